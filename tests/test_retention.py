"""`make purge`: conversations older than the retention period are deleted, in SQLite and
PostgreSQL, through the real tracker store."""

from __future__ import annotations

import asyncio
import time

import sqlalchemy as sa
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.stores.tracker_store import SnapshotSQLTrackerStore
from ops.launcher import ROOT
from ops.retention import purge

DAY = 86400


def save_conversation(store: SnapshotSQLTrackerStore, sender: str, at: float) -> None:
    events = [
        ActionExecuted("action_listen", timestamp=at),
        UserUttered("hello", {"name": "greet", "confidence": 1.0}, timestamp=at + 1),
        ActionExecuted("utter_greet", timestamp=at + 2),
    ]
    tracker = DialogueStateTracker.from_events(sender, events, store.domain.slots)
    asyncio.run(store.save(tracker))


def senders(engine: sa.engine.Engine, table: str) -> set[str]:
    with engine.connect() as connection:
        rows = connection.execute(sa.text(f"SELECT DISTINCT sender_id FROM {table}"))
        return {sender for (sender,) in rows}


def test_purge_deletes_whole_conversations_older_than_the_period(store_database_url):
    store = SnapshotSQLTrackerStore(
        Domain.load(ROOT / "domain.yml"), database_url=store_database_url
    )
    now = time.time()
    save_conversation(store, "old", now - 40 * DAY)
    save_conversation(store, "recent", now - 2 * DAY)
    engine = sa.create_engine(store_database_url)

    assert purge(engine, days=30, now=now) == 1

    assert senders(engine, "events") == {"recent"}
    assert senders(engine, "tracker_snapshots") == {"recent"}
    assert asyncio.run(store.retrieve("old")) is None
    assert asyncio.run(store.retrieve("recent")).latest_message.text == "hello"
    engine.dispose()
    store.engine.dispose()
