"""The inbox on PostgreSQL: real bot turns, stored by our tracker store class in PostgreSQL.

Runs when a PostgreSQL server answers at TRAINER_TEST_POSTGRES (default: local, trust auth);
CI machines without one skip it.
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid

import pytest
import sqlalchemy as sa
from helpers.servers import database_url
from helpers.trainer_projects import copy_project

from ops.launcher import ROOT
from trainer.inbox import DEFAULT_THRESHOLD, Inbox

pytestmark = pytest.mark.services

SERVER = os.environ.get("TRAINER_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
UNCLEAR = "glorp snazzleflux wibbit"


@pytest.fixture
def postgres_db():
    admin = sa.create_engine(SERVER, isolation_level="AUTOCOMMIT")
    try:
        admin.connect().close()
    except sa.exc.OperationalError:
        pytest.skip(f"no PostgreSQL server at {SERVER}")
    name = f"trainer_{uuid.uuid4().hex[:10]}"
    with admin.connect() as connection:
        connection.execute(sa.text(f"CREATE DATABASE {name}"))
    url = sa.engine.make_url(SERVER).set(database=name)
    try:
        yield url
    finally:
        sa.create_engine(url).dispose()
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP DATABASE {name} WITH (FORCE)"))
        admin.dispose()


def test_the_inbox_reads_conversations_stored_in_postgresql(bot, rest, tmp_path, postgres_db):
    from rasa.shared.core.domain import Domain
    from rasa.shared.core.trackers import DialogueStateTracker

    from bot.stores.tracker_store import SnapshotSQLTrackerStore

    sender = f"trainer-pg-{uuid.uuid4().hex[:8]}"
    rest.send(sender, UNCLEAR)
    # The bot's own turns (it runs on SQLite in tests), saved again through our store.
    source = sa.create_engine(database_url(bot))
    with source.connect() as connection:
        events = [json.loads(row) for row in connection.execute(
            sa.text("SELECT data FROM events WHERE sender_id = :s ORDER BY id"), {"s": sender}
        ).scalars()]  # fmt: skip
    domain = Domain.load(str(ROOT / "domain.yml"))
    store = SnapshotSQLTrackerStore(
        domain, database_url=postgres_db.render_as_string(hide_password=False)
    )
    asyncio.run(store.save(DialogueStateTracker.from_dict(sender, events, domain.slots)))
    store.engine.dispose()

    os.environ["DATABASE_URL"] = postgres_db.render_as_string(hide_password=False)
    try:
        inbox = Inbox(copy_project(tmp_path / "bot"))
    finally:
        del os.environ["DATABASE_URL"]
    items = {item.text: item for item in inbox.items()}
    assert items[UNCLEAR].fallback or items[UNCLEAR].confidence < DEFAULT_THRESHOLD
    inbox.dismiss(items[UNCLEAR].id)
    assert UNCLEAR not in {item.text for item in inbox.items()}
    inbox.engine.dispose()
