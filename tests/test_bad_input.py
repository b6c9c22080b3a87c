"""Messages a user can send by mistake each get a clear reply, and the bot recovers."""

from __future__ import annotations

import json
import time
import uuid

import pytest

# Long enough for a busy CI machine, short enough to catch a hang or a slow path.
REPLY_TIMEOUT_SECONDS = 10

BAD_INPUTS = {
    "empty": ("", "utter_not_understood"),
    "whitespace only": (" \t\n  ", "utter_not_understood"),
    "emoji only": ("😩😩🙏", "utter_not_understood"),
    "100 kB": ("blorf " * 20_000, "utter_message_too_long"),
    # No language detection: since the out-of-scope examples grew (other body parts, other
    # asks), Spanish scores as off-topic, which at least sends the person to a doctor.
    "spanish": ("me duele la espalda", "utter_out_of_scope"),
    "no word the bot knows": ("flibber jabberwock snorkelgrum", "utter_not_understood"),
}


@pytest.mark.parametrize("case", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_gets_a_clear_reply_and_the_bot_recovers(case, rest, responses, knowledge):
    text, expected = case
    sender = f"bad-input-{uuid.uuid4()}"
    started = time.monotonic()
    status, body = rest.post(json.dumps({"sender": sender, "message": text}).encode())
    assert time.monotonic() - started < REPLY_TIMEOUT_SECONDS
    assert status == 200
    assert [m.get("text") for m in json.loads(body)] == [responses[expected]]

    # The same conversation still gets normal answers afterwards.
    assert rest.texts(sender, "does massage help") == [
        responses["utter_disclaimer"],
        knowledge.entries["massage"].answer,
    ]


@pytest.mark.parametrize("payload", ["/restart", "/report_urgent_symptom"])
def test_a_payload_we_never_send_is_read_as_words_not_as_an_intent(payload, rest):
    # Rasa reads a leading "/" as an intent; only our own buttons' payloads are let through.
    as_payload = rest.texts(f"payload-{uuid.uuid4()}", payload)
    as_words = rest.texts(f"words-{uuid.uuid4()}", payload.lstrip("/"))
    assert as_payload and as_payload == as_words
