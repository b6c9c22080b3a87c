"""The one input policy every channel uses (bot/channels/input_policy.py)."""

from __future__ import annotations

import pytest
from rasa.core.nlg.interpolator import interpolate
from structlog.testing import capture_logs

from bot.channels import input_policy
from bot.channels.input_policy import NOT_UNDERSTOOD, TOO_LONG, RefusedInput
from ops.settings import current

LIMITS = current().limits


@pytest.mark.parametrize(
    "raw, cleaned",
    [
        ("I have chest pain\ud800", "I have chest pain?"),  # a lone surrogate
        ("neck\x00 pain", "neck pain"),
        ("upper\tback\npain", "upper back pain"),
        ("  ice or heat\x1b[31m?  ", "ice or heat[31m?"),
        ("cafe\u0301", "café"),  # one form of every letter (NFC)
    ],
)
def test_text_is_cleaned_before_anything_sees_it(raw, cleaned):
    assert input_policy.message_text(raw, LIMITS) == cleaned


@pytest.mark.parametrize("raw", ["", "   ", "😩🙏", "?!...", "\x00\x01", "\ud800"])
def test_a_message_with_no_words_is_not_understood(raw):
    assert input_policy.message_text(raw, LIMITS) == NOT_UNDERSTOOD


def test_a_message_over_the_limit_is_too_long():
    assert input_policy.message_text("a" * LIMITS.max_message_chars, LIMITS) != TOO_LONG
    assert input_policy.message_text("a" * (LIMITS.max_message_chars + 1), LIMITS) == TOO_LONG


@pytest.mark.parametrize("raw", [None, 42, ["hi"], {"text": "hi"}])
def test_a_message_that_is_not_text_is_refused(raw):
    with pytest.raises(RefusedInput):
        input_policy.message_text(raw, LIMITS)


def test_every_button_we_send_passes_unchanged(knowledge, domain):
    # domain.yml's buttons as Rasa sends them: it fills {slot} placeholders, and logs an
    # error (with the conversation's slots) for a brace that names no slot.
    with capture_logs() as logged:
        buttons = [
            interpolate(b, {})
            for r in domain["responses"].values()
            for v in r
            for b in v.get("buttons", [])
        ]
    assert logged == []
    entries = [*knowledge.entries.values(), *knowledge.advice.values()]
    buttons += [b for entry in entries for b in knowledge.buttons(entry)]
    assert buttons
    for button in buttons:
        assert input_policy.message_text(button["payload"], LIMITS) == button["payload"]


@pytest.mark.parametrize(
    "raw, read_as",
    [
        ("/restart", "restart"),
        ("/session_start", "session_start"),
        ("/report_urgent_symptom", "report_urgent_symptom"),
        ("/greet@0.99", "greet@0.99"),
        ('/ask_relief{"topic": "../etc"}', 'ask_relief{"topic": "../etc"}'),
        ('/ask_relief{"name": "massage"}', 'ask_relief{"name": "massage"}'),
        ("//", NOT_UNDERSTOOD),
    ],
)
def test_other_payloads_are_read_as_words_never_as_an_intent(raw, read_as):
    assert input_policy.message_text(raw, LIMITS) == read_as


@pytest.mark.parametrize("raw", ["web-1f2e3d", "user@example.org", "-1001234567", 1234567])
def test_safe_sender_ids_are_kept(raw):
    assert input_policy.sender_id(raw) == str(raw)


@pytest.mark.parametrize(
    "raw", [None, "", "a\ud800", "a\x00b", "a b", "../../etc", "x" * 129, True, 1.5, ["a"]]
)
def test_other_sender_ids_are_refused(raw):
    with pytest.raises(RefusedInput):
        input_policy.sender_id(raw)


def test_metadata_keeps_only_known_well_formed_values():
    assert input_policy.metadata(None) is None
    assert input_policy.metadata({}) is None
    assert input_policy.metadata({"locale": "en-GB", "time_zone": "Europe/London"}) == {
        "locale": "en-GB",
        "time_zone": "Europe/London",
    }


@pytest.mark.parametrize(
    "raw",
    ["en-GB", ["locale"], {"user": "me"}, {"locale": 5}, {"locale": "en GB"},
     {"time_zone": "../../etc/passwd"}, {"locale": "x\ud800"}],
)  # fmt: skip
def test_other_metadata_is_refused(raw):
    with pytest.raises(RefusedInput):
        input_policy.metadata(raw)
