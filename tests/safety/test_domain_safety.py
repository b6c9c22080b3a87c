"""Safety wording in domain.yml: no self-care in alarms, doctor advice once persistent."""

from __future__ import annotations

import asyncio

import pytest
import textstat
from rasa.core.nlg import NaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import SlotSet
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import read_endpoint_config

from bot import ROOT
from bot.nlg import PersistentAdviceNLG
from bot.nlu.names import PERSISTENCE_SLOT, PERSISTENT
from bot.nlu.topic_entities import topic_phrases

SAFETY_RESPONSES = (
    "utter_emergency",
    "utter_emergency_reminder",
    "utter_urgent_care",
    "utter_triage_question",
    "utter_warning_signs",
)


def reply(nlg: PersistentAdviceNLG, name: str, persistence: str | None) -> str:
    tracker = DialogueStateTracker.from_events("nlg-test", [SlotSet(PERSISTENCE_SLOT, persistence)])
    return asyncio.run(nlg.generate(name, tracker, "rest"))["text"]


def test_plain_replies_close_with_the_doctor_advice_once_pain_persists(domain, knowledge):
    endpoints = read_endpoint_config(str(ROOT / "endpoints.yml"), "nlg")
    nlg = NaturalLanguageGenerator.create(endpoints, Domain.from_dict(domain))
    assert isinstance(nlg, PersistentAdviceNLG)
    advice = knowledge.advice["persistent_pain"].answer
    # The fallback (utter_unavailable) gets the advice too: a user cut short still hears it.
    keep_wording = {*SAFETY_RESPONSES, "utter_disclaimer", "utter_please_type"}
    assert nlg.without_advice == keep_wording
    for name, variants in domain["responses"].items():
        plain = variants[0]["text"]
        assert reply(nlg, name, None) == plain
        expected = plain if name in keep_wording else f"{plain}\n\n{advice}"
        assert reply(nlg, name, PERSISTENT) == expected, name


SELF_CARE_TOPICS = ("ice_and_heat", "massage", "medicine", "exercise")


@pytest.mark.parametrize("name", [n for n in SAFETY_RESPONSES if n != "utter_triage_question"])
def test_alarm_replies_carry_no_self_care(domain, knowledge, name):
    text = f" {domain['responses'][name][0]['text'].lower()} "
    # The words people use for self-care topics (the topic lexicon), e.g. ice, massage, pills.
    words = [w for topic in SELF_CARE_TOPICS for w in topic_phrases()[topic]]
    assert not [word for word in words if f" {word} " in text]
    # "Does not ease with rest" names the sign; no reply suggests rest to an alarm.
    assert "rest for" not in text and "take short breaks" not in text


def test_the_triage_question_is_plain_and_offers_yes_and_no(domain):
    (variant,) = domain["responses"]["utter_triage_question"]
    assert textstat.flesch_kincaid_grade(variant["text"]) <= 8
    # Yes reports the red flag itself, so later replies remind the user to call.
    assert [b["payload"] for b in variant["buttons"]] == ["/report_red_flag", "/deny"]
