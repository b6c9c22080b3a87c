"""Conversations with the running bot, written as data in tests/conversations/*.yml.

Each bot step names what the reply must be, never the text itself:
  utter_x            a domain response
  utter_x + advice   its variant once the pain is persistent (ends with the advice)
  entry_id           a knowledge entry's answer, with its follow-up buttons
  entry_id + advice  the entry's answer closed by an advice text (e.g. persistent_pain)
  advice             an advice text on its own, with its buttons
"""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
import yaml
from helpers.conversations import expected_messages, received_message

CONVERSATION_FILES = sorted((Path(__file__).parent / "conversations").glob("*.yml"))
CONVERSATIONS = [
    conversation
    for path in CONVERSATION_FILES
    for conversation in yaml.safe_load(path.read_text())["conversations"]
]


def test_there_are_enough_conversations():
    assert len(CONVERSATIONS) >= 60


@pytest.mark.parametrize("conversation", CONVERSATIONS, ids=[c["name"] for c in CONVERSATIONS])
def test_conversation(conversation, rest, knowledge, domain):
    sender = f"test-{uuid.uuid4()}"
    for number, turn in enumerate(conversation["turns"], start=1):
        replies = [received_message(m) for m in rest.send(sender, turn["user"])]
        expected = [m for step in turn["bot"] for m in expected_messages(step, knowledge, domain)]
        assert replies == expected, f"turn {number}: {turn['user']!r}"
