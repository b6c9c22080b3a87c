"""The custom actions, run with real rasa-sdk trackers and dispatchers."""

from __future__ import annotations

from rasa_sdk import Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from actions.actions import (
    ActionAnswerHealthQuestion,
    ActionNotUnderstood,
    ActionRespondToDuration,
)
from bot.knowledge import section_title


def tracker(intent: str, topics=(), **slots) -> Tracker:
    return Tracker(
        sender_id="action-test",
        slots={"disclaimer_shown": False, "pain_persistence": None, "last_category": None, **slots},
        latest_message={
            "text": "",
            "intent": {"name": intent, "confidence": 1.0},
            "entities": [{"entity": "topic", "value": topic} for topic in topics],
        },
        events=[],
        paused=False,
        followup_action=None,
        active_loop={},
        latest_action_name="action_listen",
    )


def run(action, tracker: Tracker):
    dispatcher = CollectingDispatcher()
    events = action.run(dispatcher, tracker, {})
    return dispatcher.messages, events


def test_first_health_answer_starts_with_the_disclaimer(knowledge):
    messages, events = run(ActionAnswerHealthQuestion(), tracker("ask_causes", ["lifting"]))
    entry = knowledge.entries["improper_lifting"]
    assert [m["response"] for m in messages[:1]] == ["utter_disclaimer"]
    assert messages[1]["text"] == entry.answer
    assert messages[1]["buttons"] == knowledge.buttons(entry)
    assert events == [SlotSet("disclaimer_shown", True), SlotSet("last_category", "causes")]


def test_the_disclaimer_is_given_once(knowledge):
    messages, _ = run(
        ActionAnswerHealthQuestion(), tracker("ask_relief", ["ice_and_heat"], disclaimer_shown=True)
    )
    assert [m["text"] for m in messages] == [knowledge.entries["ice_and_heat"].answer]


def test_persistent_pain_closes_every_answer_with_the_doctor_advice(knowledge):
    messages, _ = run(
        ActionAnswerHealthQuestion(),
        tracker("ask_relief", ["massage"], disclaimer_shown=True, pain_persistence="persistent"),
    )
    advice = knowledge.advice["persistent_pain"]
    assert messages[0]["text"] == f"{knowledge.entries['massage'].answer}\n\n{advice.answer}"
    # Both article sections are named as the answer's sources.
    headings = [knowledge.entries["massage"].heading, advice.heading]
    assert messages[0]["metadata"] == {"sources": [section_title(h) for h in headings]}


def test_a_health_answer_names_the_article_section_it_comes_from(knowledge):
    messages, _ = run(ActionAnswerHealthQuestion(), tracker("ask_causes", ["lifting"]))
    assert "metadata" not in messages[0]  # the disclaimer is not from the article
    assert messages[1]["metadata"] == {"sources": ["Improper lifting"]}


def test_a_general_question_gets_the_category_overview(knowledge):
    messages, _ = run(ActionAnswerHealthQuestion(), tracker("ask_causes", disclaimer_shown=True))
    assert messages[0]["text"] == knowledge.entries["causes_overview"].answer


def test_a_follow_up_topic_stays_in_the_conversations_category(knowledge):
    messages, events = run(
        ActionAnswerHealthQuestion(),
        tracker("ask_about_topic", ["lifting"], disclaimer_shown=True, last_category="prevention"),
    )
    assert messages[0]["text"] == knowledge.entries["posture_and_lifting"].answer
    assert SlotSet("last_category", "prevention") in events


def test_a_follow_up_without_a_topic_or_context_asks_again(knowledge):
    messages, events = run(ActionAnswerHealthQuestion(), tracker("ask_about_topic"))
    assert [m["response"] for m in messages] == ["utter_not_understood"]
    assert 2 <= len(messages[0]["buttons"]) <= 3
    assert events == []


def test_not_understood_offers_the_closest_topics(knowledge):
    understood = tracker("nlu_fallback", ["massage"])
    understood.latest_message["intent_ranking"] = [
        {"name": "nlu_fallback", "confidence": 0.4},
        {"name": "ask_prevention", "confidence": 0.3},
        {"name": "greet", "confidence": 0.2},
        {"name": "ask_causes", "confidence": 0.1},
    ]
    messages, _ = run(ActionNotUnderstood(), understood)
    closest = ["massage", "prevention_tips", "causes_overview"]
    assert messages[0]["response"] == "utter_not_understood"
    assert messages[0]["buttons"] == knowledge.entry_buttons(knowledge.entries[e] for e in closest)


def test_persistent_duration_recommends_a_doctor(knowledge):
    messages, events = run(
        ActionRespondToDuration(),
        tracker("report_duration", disclaimer_shown=True, pain_persistence="persistent"),
    )
    advice = knowledge.advice["persistent_pain"]
    assert messages[0]["text"] == advice.answer
    assert messages[0]["buttons"] == knowledge.buttons(advice)
    assert events == [SlotSet("disclaimer_shown", True)]


def test_short_duration_says_when_to_see_a_doctor(knowledge):
    messages, _ = run(ActionRespondToDuration(), tracker("report_duration", disclaimer_shown=True))
    assert messages[0]["text"] == knowledge.advice["short_duration"].answer
