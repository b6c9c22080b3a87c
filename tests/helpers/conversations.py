"""Scripted conversations: what a bot step in tests/conversations/*.yml expects."""

from __future__ import annotations


def expected_message(step: str, knowledge, domain) -> dict:
    entry_id, _, closing_id = (part.strip() for part in step.partition("+"))
    if entry_id.startswith("utter_"):
        # "utter_x + persistent_pain": the variant used once the pain is persistent.
        variants = domain["responses"][entry_id]
        response = next(v for v in variants if bool(v.get("condition")) == bool(closing_id))
        titles = [b["title"] for b in response.get("buttons", [])]
        return {"text": response["text"], "buttons": titles}
    entry = knowledge.entries.get(entry_id) or knowledge.advice[entry_id]
    text = entry.answer
    if closing_id:
        text = f"{text}\n\n{knowledge.advice[closing_id].answer}"
    return {"text": text, "buttons": [b["title"] for b in knowledge.buttons(entry)]}


def received_message(message: dict) -> dict:
    return {
        "text": message.get("text"),
        "buttons": [b["title"] for b in message.get("buttons", [])],
    }
