"""Scripted conversations: what a bot step in tests/conversations/*.yml expects, and what a
conversation's stored events say was said."""

from __future__ import annotations

import json
from pathlib import Path

import sqlalchemy as sa
import yaml

KNOWLEDGE_CONVERSATIONS = Path(__file__).parent.parent / "conversations" / "knowledge_entries.yml"
# A first turn that sets how long the pain has lasted, and how later answers then close.
OPENINGS = [
    ("its been 10 days now", "persistent_pain", " + persistent_pain"),
    ("only since this morning", "short_duration", ""),
]


NOT_UNDERSTOOD = "utter_not_understood"


class ClosestTopics:
    """The buttons of "not understood": 2 or 3 of the knowledge's questions, whichever the
    model ranked closest (the ranking itself is tested in test_actions.py)."""

    def __init__(self, knowledge) -> None:
        self.questions = {e.question for e in knowledge.entries.values()}

    def __eq__(self, titles: object) -> bool:
        return (
            isinstance(titles, list)
            and 2 <= len(titles) <= 3
            and all(title in self.questions for title in titles)
        )

    def __bool__(self) -> bool:
        return True

    def __repr__(self) -> str:
        return "<2 or 3 closest topics>"


def expected_messages(step: str, knowledge, domain) -> list[dict]:
    """The messages a REST client receives for one bot step.

    "x + persistent_pain": x closed by the knowledge file's advice as its own paragraph.
    Rasa's REST channel sends each paragraph of a reply without buttons as a message.
    """
    source, _, closing_id = (part.strip() for part in step.partition("+"))
    if source == NOT_UNDERSTOOD:
        text, buttons = domain["responses"][source][0]["text"], ClosestTopics(knowledge)
    elif source.startswith("utter_"):
        response = domain["responses"][source][0]
        text, buttons = response["text"], response.get("buttons", [])
    else:
        entry = knowledge.entries.get(source) or knowledge.advice[source]
        text, buttons = entry.answer, knowledge.buttons(entry)
    if closing_id:
        text = f"{text}\n\n{knowledge.advice[closing_id].answer}"
    titles = buttons if isinstance(buttons, ClosestTopics) else [b["title"] for b in buttons]
    if titles:
        return [{"text": text, "buttons": titles}]
    return [{"text": part, "buttons": []} for part in text.split("\n\n")]


def expected_texts(steps: list[str], knowledge, domain) -> list[str]:
    return [m["text"] for step in steps for m in expected_messages(step, knowledge, domain)]


def received_message(message: dict) -> dict:
    return {
        "text": message.get("text"),
        "buttons": [b["title"] for b in message.get("buttons", [])],
    }


def entry_questions() -> list[tuple[str, str]]:
    """(question, knowledge entry id) pairs that tests/conversations checks one by one."""
    conversations = yaml.safe_load(KNOWLEDGE_CONVERSATIONS.read_text())["conversations"]
    return [
        (c["turns"][0]["user"], c["turns"][0]["bot"][1])
        for c in conversations
        if len(c["turns"]) == 1 and c["turns"][0]["bot"][0] == "utter_disclaimer"
    ]


def stored_dialogue(database_url: str, sender: str) -> list[tuple[str, str]]:
    """The conversation's user and bot messages, in the order the tracker store stored them."""
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text(
                    "SELECT type_name, data FROM events WHERE sender_id = :sender"
                    " AND type_name IN ('user', 'bot') ORDER BY id"
                ),
                {"sender": sender},
            )
            return [(kind, json.loads(data)["text"]) for kind, data in rows]
    finally:
        engine.dispose()
