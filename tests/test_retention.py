"""`make purge`: conversations older than the retention period are deleted, in SQLite and
PostgreSQL, through the real tracker store."""

from __future__ import annotations

import asyncio
import time

import pytest
import sqlalchemy as sa
from helpers.databases import scratch_postgres_database
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import ActionExecuted, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from bot.stores.tracker_store import SnapshotSQLTrackerStore
from ops.launcher import ROOT
from ops.retention import purge

pytestmark = pytest.mark.services

DAY = 86400


@pytest.fixture(params=["sqlite", "postgresql"])
def database_url(request, tmp_path):
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'conversations.db'}"
        return
    with scratch_postgres_database("retention") as name:
        yield f"postgresql://postgres@127.0.0.1:5432/{name}"


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


def test_purge_deletes_whole_conversations_older_than_the_period(database_url):
    store = SnapshotSQLTrackerStore(Domain.load(ROOT / "domain.yml"), database_url=database_url)
    now = time.time()
    save_conversation(store, "old", now - 40 * DAY)
    save_conversation(store, "recent", now - 2 * DAY)
    engine = sa.create_engine(database_url)

    assert purge(engine, days=30, now=now) == 1

    assert senders(engine, "events") == {"recent"}
    assert senders(engine, "tracker_snapshots") == {"recent"}
    assert asyncio.run(store.retrieve("old")) is None
    assert asyncio.run(store.retrieve("recent")).latest_message.text == "hello"
    engine.dispose()
    store.engine.dispose()
