"""The snapshot tracker store: bounded load per turn, full history kept, context kept."""

from __future__ import annotations

import asyncio
import sqlite3
import uuid

import sqlalchemy as sa
from rasa.shared.core.domain import Domain

from bot.stores.tracker_store import RECENT_TURNS, SnapshotSQLTrackerStore
from ops.launcher import ROOT

QUESTIONS = [
    "does massage help",
    "what about heat?",
    "how do i prevent it",
    "can bad posture cause it",
    "what tests might i need",
]


def test_a_long_conversation_keeps_its_context_and_its_full_history(bot, rest, knowledge):
    sender = f"long-{uuid.uuid4()}"
    rest.send(sender, "it's been hurting for 3 weeks")
    turns = 40
    for turn in range(turns):
        rest.send(sender, QUESTIONS[turn % len(QUESTIONS)])
    last = rest.texts(sender, "does massage help")
    advice = knowledge.advice["persistent_pain"].answer
    assert last == [f"{knowledge.entries['massage'].answer}\n\n{advice}"]

    db = sa.engine.make_url(bot.settings.database_url).database
    with sqlite3.connect(db) as connection:
        (user_events,) = connection.execute(
            "SELECT COUNT(*) FROM events WHERE sender_id = ? AND type_name = 'user'", (sender,)
        ).fetchone()
    assert user_events == turns + 2

    domain = Domain.load(ROOT / "domain.yml")
    store = SnapshotSQLTrackerStore(domain, database_url=bot.settings.database_url)
    tracker = asyncio.run(store.retrieve(sender))
    assert tracker.get_slot("pain_persistence") == "persistent"
    user_turns_loaded = [e for e in tracker.events if e.type_name == "user"]
    assert len(user_turns_loaded) == RECENT_TURNS
    full = asyncio.run(store.retrieve_full_tracker(sender))
    assert len([e for e in full.events if e.type_name == "user"]) == turns + 2
