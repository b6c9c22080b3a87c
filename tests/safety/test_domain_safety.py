"""Safety wording in domain.yml: no self-care in alarms, doctor advice once persistent."""

from __future__ import annotations

import pytest
import textstat

PERSISTENT_CONDITION = [{"type": "slot", "name": "pain_persistence", "value": "persistent"}]
SAFETY_RESPONSES = ("utter_emergency", "utter_urgent_care", "utter_triage_question")


def test_every_plain_reply_has_a_variant_that_recommends_a_doctor_once_pain_persists(
    domain, knowledge
):
    advice = knowledge.advice["persistent_pain"].answer
    for name, variants in domain["responses"].items():
        if name in (*SAFETY_RESPONSES, "utter_disclaimer", "utter_unavailable"):
            continue
        if name == "utter_please_type":  # stickers and photos: nothing was said
            continue
        persistent = [v for v in variants if v.get("condition") == PERSISTENT_CONDITION]
        assert persistent, f"{name} has no variant for persistent pain"
        # The same words as the knowledge file's advice, so the two cannot drift apart.
        assert persistent[0]["text"] == f"{variants[0]['text']} {advice}", name


SELF_CARE_TOPICS = ("ice_and_heat", "massage", "medicine", "exercise")


@pytest.mark.parametrize("name", ["utter_emergency", "utter_urgent_care"])
def test_alarm_replies_carry_no_self_care(domain, knowledge, name):
    text = f" {domain['responses'][name][0]['text'].lower()} "
    # The words people use for self-care topics (knowledge file), e.g. ice, massage, pills.
    words = [w for topic in SELF_CARE_TOPICS for w in knowledge.topic_phrases[topic]]
    assert not [word for word in words if f" {word} " in text]
    # "Does not ease with rest" names the sign; no reply suggests rest to an alarm.
    assert "rest for" not in text and "take short breaks" not in text


def test_the_triage_question_is_plain_and_offers_yes_and_no(domain):
    (variant,) = domain["responses"]["utter_triage_question"]
    assert textstat.flesch_kincaid_grade(variant["text"]) <= 8
    assert [b["payload"] for b in variant["buttons"]] == ["/affirm", "/deny"]
