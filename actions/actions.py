"""Custom actions: thin wrappers that answer from the knowledge base (bot.knowledge)."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import SlotSet
from rasa_sdk.executor import CollectingDispatcher

from bot.knowledge import Entry, asked_and_mentioned, knowledge_base, sources_metadata
from bot.nlu.names import EMERGENCY_REMINDER, EMERGENCY_SLOT, PERSISTENT, SAFETY_KEY

# The intent the safety layer sets when it asks the triage question.
TRIAGE_INTENT = "unconfirmed_red_flag"


def pain_is_persistent(tracker: Tracker) -> bool:
    return tracker.get_slot("pain_persistence") == PERSISTENT


def send_health_answer(
    dispatcher: CollectingDispatcher, tracker: Tracker, entry: Entry, closing: Entry | None
) -> list[dict[str, Any]]:
    """Answer with `entry`: the disclaimer first in a conversation, `closing` last, and
    before all a reminder to call the emergency number once the user has reported a red flag.

    The answer's metadata names its article sections; each channel shows them as a source.
    """
    if tracker.get_slot(EMERGENCY_SLOT):
        dispatcher.utter_message(response=EMERGENCY_REMINDER)
    if not tracker.get_slot("disclaimer_shown"):
        dispatcher.utter_message(response="utter_disclaimer")
    shown = [entry] if closing is None else [entry, closing]
    dispatcher.utter_message(
        text="\n\n".join(e.answer for e in shown),
        buttons=knowledge_base().buttons(entry),
        metadata=sources_metadata(*shown),
    )
    if entry.then_response:
        dispatcher.utter_message(response=entry.then_response)
    events = [SlotSet("disclaimer_shown", True)]
    if entry.category is not None:
        events.append(SlotSet("last_category", entry.category))
    return events


def answer_question(
    dispatcher: CollectingDispatcher, tracker: Tracker, message: dict[str, Any], intent: str | None
) -> list[dict[str, Any]]:
    knowledge = knowledge_base()
    topics = [(e["value"], e.get("start", 0)) for e in message.get("entities", [])
              if e["entity"] == "topic"]  # fmt: skip
    asked, mentioned = asked_and_mentioned(message.get("text") or "", topics)
    entry = knowledge.select(
        knowledge.category_for_intent(intent), asked, mentioned, tracker.get_slot("last_category")
    )
    if entry is None:
        return not_understood(dispatcher, message)
    closing = knowledge.advice["persistent_pain"] if pain_is_persistent(tracker) else None
    return send_health_answer(dispatcher, tracker, entry, closing)


def not_understood(dispatcher: CollectingDispatcher, message: dict[str, Any]) -> list:
    """ "Not understood", offering the topics the message came closest to."""
    knowledge = knowledge_base()
    topics = [e["value"] for e in message.get("entities", []) if e["entity"] == "topic"]
    closest = knowledge.closest_entries(message.get("intent_ranking", []), topics)
    dispatcher.utter_message(
        response="utter_not_understood", buttons=knowledge.entry_buttons(closest)
    )
    return []


class ActionNotUnderstood(Action):
    def name(self) -> str:
        return "action_not_understood"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return not_understood(dispatcher, tracker.latest_message)


class ActionAnswerHealthQuestion(Action):
    def name(self) -> str:
        return "action_answer_health_question"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        message = tracker.latest_message
        intent = message.get("intent", {}).get("name")
        return answer_question(dispatcher, tracker, message, intent)


class ActionAnswerHeldQuestion(Action):
    """After "no" to the triage question: answer what the user had asked before it."""

    def name(self) -> str:
        return "action_answer_held_question"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        asked = next(
            (
                e["parse_data"]
                for e in reversed(tracker.events)
                if e.get("event") == "user"
                and e.get("parse_data", {}).get("intent", {}).get("name") == TRIAGE_INTENT
            ),
            None,
        )
        held_intent = (asked or {}).get(SAFETY_KEY, {}).get("held_intent")
        if held_intent == "report_duration":
            return respond_to_duration(dispatcher, tracker)
        has_topic = any(e["entity"] == "topic" for e in (asked or {}).get("entities", []))
        if knowledge_base().category_for_intent(held_intent) is None and not has_topic:
            dispatcher.utter_message(response="utter_ask_what_next")
            return []
        return answer_question(dispatcher, tracker, asked or {}, held_intent)


class ActionRespondToDuration(Action):
    def name(self) -> str:
        return "action_respond_to_duration"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: dict[str, Any]
    ) -> list[dict[str, Any]]:
        return respond_to_duration(dispatcher, tracker)


def respond_to_duration(dispatcher: CollectingDispatcher, tracker: Tracker) -> list[dict]:
    advice = knowledge_base().advice
    entry = advice["persistent_pain" if pain_is_persistent(tracker) else "short_duration"]
    return send_health_answer(dispatcher, tracker, entry, closing=None)
