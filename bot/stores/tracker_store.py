"""The conversation store: every turn in SQL (a SQLite file, or PostgreSQL), with a per-turn
cost that does not grow with the conversation, kept off the event loop, and no silent
fallback.

- The full history is in Rasa's `events` table (the schema of Rasa's SQLTrackerStore, so its
  tools, the trainer inbox and retention read it). Beside it, `tracker_snapshots` holds one
  row per conversation: the session start, the slot values and the last few turns. A turn
  loads only that row.
- A turn is stored in one transaction: its new events, and its snapshot. The snapshot is
  replaced only if it is still the one the turn started from, so a turn that lost its lock
  (a deadline, a lock that expired) can never overwrite a newer one.
- Database work runs on the store's own threads; the event loop keeps serving others.
- The database is ops.settings' `database_url` (DATABASE_URL, by default the SQLite file
  conversations.db). When it fails, TrackerStoreUnavailable says so: never an empty
  conversation, never a turn kept only in memory.

endpoints.yml:  tracker_store: {type: bot.stores.tracker_store.SnapshotSQLTrackerStore}
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import sqlalchemy as sa
from rasa.core.brokers.broker import EventBroker
from rasa.core.tracker_store import SerializedTrackerAsText, SQLTrackerStore, TrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActiveLoop,
    Event,
    SessionStarted,
    SlotSet,
    UserUttered,
    deserialise_events,
)
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.shared.utils.common import all_subclasses

from bot.stores.sqlite_startup import SQLITE_BUSY_SECONDS, retry_while_locked
from ops import settings

logger = logging.getLogger(__name__)
T = TypeVar("T")

# Turns kept in the snapshot: more than any rule or the memoization policy looks back.
RECENT_TURNS = 5
# Tracker attributes: how many of its events are stored already, how many of them are the
# snapshot's synthetic prefix (session start and slot values), and the snapshot it was
# built from (absent: a tracker not built from a snapshot).
STORED = "_snapshot_stored_events"
PREFIX = "_snapshot_prefix_events"
LOADED = "_snapshot_loaded"
# Threads per store, each with its own connection: turns take well under a millisecond of
# database time, so a few keep up with many conversations.
CONNECTIONS = 4
CONNECT_TIMEOUT_SECONDS = 3

# Users' 👍/👎 on an answer: a row of this type in `events`, in the rated conversation. Rasa
# does not know the type and skips it when it reads a history, so it never changes what
# the bot says; the trainer's inbox reads it.
FEEDBACK = "feedback"

METADATA = sa.MetaData()
EVENTS = SQLTrackerStore.SQLEvent.__table__.to_metadata(METADATA)
SNAPSHOTS = sa.Table(
    "tracker_snapshots",
    METADATA,
    sa.Column("sender_id", sa.String(255), primary_key=True),
    sa.Column("data", sa.Text, nullable=False),
)


class TrackerStoreUnavailable(BaseException):
    """The conversation database could not be read or written; nothing of the turn is stored.

    A BaseException, like asyncio.CancelledError, on purpose: Rasa wraps every tracker store
    in a FailSafeTrackerStore whose `except Exception` would go on with an empty in-memory
    tracker (the conversation's context silently reset) and keep the turn only in memory.
    This passes through it and fails the turn; a channel catches it by name and answers
    that it can't answer right now. Its message never contains what users wrote.
    """


def unavailable(doing: str, error: Exception) -> TrackerStoreUnavailable:
    """The error as TrackerStoreUnavailable, logged. Only its type is named: SQLAlchemy's
    messages quote the statement's parameters, which hold what users wrote."""
    cause = type(getattr(error, "orig", None) or error).__name__
    logger.error("The conversation database could not %s (%s).", doing, cause)
    return TrackerStoreUnavailable(f"The conversation database could not {doing} ({cause}).")


# psycopg2 refuses NUL characters, and both drivers lone surrogates, with a ValueError
# (UnicodeEncodeError) of their own rather than a database error.
DATABASE_ERRORS = (sa.exc.SQLAlchemyError, ValueError)


def _sqlite_pragmas(connection: Any, _: Any) -> None:
    # WAL: a commit appends to the log instead of going through a rollback journal (about
    # 18 ms -> 0.2 ms per commit on this disk), and readers never wait for the writer.
    # synchronous=FULL fsyncs every commit, so a turn the user got an answer for survives a
    # power cut, not only a crash of the process. NORMAL would save about 0.17 ms per turn,
    # off the event loop, and could lose the last answered turns on a power cut.
    connection.execute("PRAGMA journal_mode=WAL")
    connection.execute("PRAGMA synchronous=FULL")


def create_engine(url: str) -> sa.engine.Engine:
    """An engine with one pooled connection per store thread."""
    pool = {"pool_size": CONNECTIONS, "max_overflow": 0}
    if sa.engine.make_url(url).get_backend_name() == "sqlite":
        engine = sa.create_engine(
            url,
            poolclass=sa.pool.QueuePool,  # SQLAlchemy 1.4 would open a file per checkout
            connect_args={"timeout": SQLITE_BUSY_SECONDS, "check_same_thread": False},
            **pool,
        )
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    # pool_pre_ping: connections that died with the server are replaced when it is back.
    return sa.create_engine(
        url,
        pool_pre_ping=True,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
        **pool,
    )


def _create_tables(engine: sa.engine.Engine) -> None:
    def create() -> None:
        try:
            METADATA.create_all(engine)
        except sa.exc.SQLAlchemyError as error:
            if "locked" in str(error):
                raise
            # Another process (a second Sanic worker, a replica) created them at the same time.
            METADATA.create_all(engine)

    retry_while_locked(create, SQLITE_BUSY_SECONDS, (sa.exc.OperationalError,))


@functools.cache
def _event_classes() -> dict[str, type[Event]]:
    """Rasa's event classes by type name, the first found winning, as Rasa's
    Event.resolve_by_type finds them. That walks the class tree for every event it reads:
    about 1 ms of a 20 ms turn, for the 40 or so events of a snapshot."""
    classes: dict[str, type[Event]] = {}
    for event_class in all_subclasses(Event):
        classes.setdefault(event_class.type_name, event_class)
    return classes


def _deserialise(dumped: list[dict[str, Any]]) -> list[Event]:
    """What rasa.shared.core.events.deserialise_events returns, without the walk."""
    events: list[Event] = []
    for data in dumped:
        event_class = _event_classes().get(data.get("event"))
        if event_class is None:  # not an event, or not one we know: Rasa's own handling
            events += deserialise_events([data])
        elif (event := event_class._from_parameters(data)) is not None:
            events.append(event)
    return events


class SnapshotSQLTrackerStore(TrackerStore, SerializedTrackerAsText):
    def __init__(
        self,
        domain: Domain | None = None,
        event_broker: EventBroker | None = None,
        database_url: str | None = None,
        host: str | None = None,
        **unexpected: Any,
    ) -> None:
        """`database_url` is for tests and tools; the server reads DATABASE_URL."""
        if host is not None or unexpected:
            raise ValueError(
                "The tracker store reads its database from DATABASE_URL (ops/settings.py); "
                "endpoints.yml names only its type."
            )
        super().__init__(domain, event_broker)
        self.engine = create_engine(database_url or settings.current().database_url)
        self._threads = ThreadPoolExecutor(CONNECTIONS, thread_name_prefix="tracker-store")
        # SQLite has one writer at a time, and a connection that finds the file locked
        # sleeps in growing steps (1 ms up to 100 ms) before it tries again: under 10 users
        # a turn waited 41 ms on average to store. Our threads take turns on a mutex
        # instead, which wakes the next writer as soon as one commits.
        sqlite = self.engine.dialect.name == "sqlite"
        self._writing = threading.Lock() if sqlite else contextlib.nullcontext()
        try:  # at start-up, before the loop serves anyone
            _create_tables(self.engine)
        except DATABASE_ERRORS as error:
            raise unavailable("create its tables", error) from None

    async def _in_thread(self, doing: str, work: Callable[..., T], *args: Any) -> T:
        try:
            return await asyncio.get_running_loop().run_in_executor(self._threads, work, *args)
        except DATABASE_ERRORS as error:
            raise unavailable(doing, error) from None

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        snapshot, events = await self._in_thread(
            "load the conversation", self._read_snapshot, sender_id
        )
        if snapshot is not None:
            return self._from_snapshot(sender_id, snapshot)
        if not events:
            return None
        # A conversation stored before snapshots existed: its latest session, in full.
        return self._from_events(sender_id, events, snapshot)

    async def retrieve_full_tracker(self, conversation_id: str) -> DialogueStateTracker | None:
        snapshot, events = await self._in_thread(
            "load the conversation", self._read_history, conversation_id
        )
        return self._from_events(conversation_id, events, snapshot) if events else None

    async def keys(self) -> Iterable[str]:
        return await self._in_thread("list the conversations", self._read_keys)

    async def save(self, tracker: DialogueStateTracker) -> None:
        events = list(tracker.events)
        new_events = events[getattr(tracker, STORED, 0) :]
        if not new_events:
            return
        rows = [self._row(tracker.sender_id, event) for event in new_events]
        snapshot = json.dumps(self._snapshot(tracker, events))
        abandoned = threading.Event()
        try:
            await self._in_thread(
                "store the turn",
                self._write,
                tracker.sender_id,
                rows,
                snapshot,
                getattr(tracker, LOADED, None),
                abandoned,
            )
        except asyncio.CancelledError:
            # The caller gave up (a reply deadline): the turn is rolled back unless it
            # was committed already, so what is stored is what the user was answered.
            abandoned.set()
            raise
        setattr(tracker, STORED, len(events))
        setattr(tracker, LOADED, snapshot)
        if self.event_broker is not None:
            await self._stream_new_events(self.event_broker, new_events, tracker.sender_id)

    async def add_feedback(
        self, sender_id: str, rating: str, reason: str | None, answer_text: str | None
    ) -> bool:
        """Store a rating of the conversation's latest answer ending with `answer_text`
        (None: the answer of its latest 👎, which a reason follows up); False when there is
        no such answer (the rating is then not stored)."""
        return await self._in_thread(
            "store the feedback", self._write_feedback, sender_id, rating, reason, answer_text
        )

    # Database work, on the store's threads.

    def _write_feedback(
        self, sender_id: str, rating: str, reason: str | None, answer_text: str | None
    ) -> bool:
        if answer_text is None:
            return self._follow_up_feedback(sender_id, rating, reason)
        answers = (
            sa.select(EVENTS.c.timestamp, EVENTS.c.data)
            .where(EVENTS.c.sender_id == sender_id, EVENTS.c.type_name == "bot")
            .order_by(EVENTS.c.id.desc())
        )
        # Compared with spaces collapsed: the input policy turns newlines into spaces.
        wanted = " ".join(answer_text.split())
        with self._writing, self.engine.begin() as connection:
            for timestamp, data in connection.execute(answers):
                if wanted and " ".join((json.loads(data).get("text") or "").split()).endswith(
                    wanted
                ):
                    self._insert_feedback(connection, sender_id, rating, reason, timestamp)
                    return True
        return False

    def _follow_up_feedback(self, sender_id: str, rating: str, reason: str | None) -> bool:
        latest = (
            sa.select(EVENTS.c.data)
            .where(EVENTS.c.sender_id == sender_id, EVENTS.c.type_name == FEEDBACK)
            .order_by(EVENTS.c.id.desc())
            .limit(1)
        )
        with self._writing, self.engine.begin() as connection:
            data = connection.execute(latest).scalar()
            if data is None or json.loads(data).get("rating") != rating:
                return False
            answered = json.loads(data)["answer_timestamp"]
            self._insert_feedback(connection, sender_id, rating, reason, answered)
            return True

    @staticmethod
    def _insert_feedback(
        connection: Any, sender_id: str, rating: str, reason: str | None, answered: float
    ) -> None:
        now = time.time()
        event = {"event": FEEDBACK, "timestamp": now, "rating": rating, "reason": reason,
                 "answer_timestamp": answered}  # fmt: skip
        connection.execute(
            EVENTS.insert().values(
                sender_id=sender_id, type_name=FEEDBACK, timestamp=now, data=json.dumps(event)
            )
        )

    def _read_snapshot(self, sender_id: str) -> tuple[str | None, list[str]]:
        with self.engine.connect() as connection:
            snapshot = connection.execute(
                sa.select(SNAPSHOTS.c.data).where(SNAPSHOTS.c.sender_id == sender_id)
            ).scalar()
            if snapshot is not None:
                return snapshot, []
            session_start = (
                sa.select(sa.func.coalesce(sa.func.max(EVENTS.c.id), 0))
                .where(EVENTS.c.sender_id == sender_id)
                .where(EVENTS.c.type_name == SessionStarted.type_name)
                .scalar_subquery()
            )
            query = (
                sa.select(EVENTS.c.data)
                .where(EVENTS.c.sender_id == sender_id)
                .where(EVENTS.c.id >= session_start)
                .order_by(EVENTS.c.id)
            )
            return None, list(connection.execute(query).scalars())

    def _read_history(self, sender_id: str) -> tuple[str | None, list[str]]:
        with self.engine.connect() as connection:
            snapshot = connection.execute(
                sa.select(SNAPSHOTS.c.data).where(SNAPSHOTS.c.sender_id == sender_id)
            ).scalar()
            query = sa.select(EVENTS.c.data).where(EVENTS.c.sender_id == sender_id)
            return snapshot, list(connection.execute(query.order_by(EVENTS.c.id)).scalars())

    def _read_keys(self) -> list[str]:
        with self.engine.connect() as connection:
            return list(connection.execute(sa.select(EVENTS.c.sender_id).distinct()).scalars())

    def _write(
        self,
        sender_id: str,
        rows: list[dict[str, Any]],
        snapshot: str,
        loaded: str | None,
        abandoned: threading.Event,
    ) -> None:
        with self._writing, self.engine.begin() as connection:
            connection.execute(EVENTS.insert(), rows)
            update = SNAPSHOTS.update().where(SNAPSHOTS.c.sender_id == sender_id)
            if loaded is not None:
                update = update.where(SNAPSHOTS.c.data == loaded)
            if connection.execute(update.values(data=snapshot)).rowcount == 0:
                if loaded is not None:
                    logger.error("Another turn of a conversation was stored first; not this one.")
                    raise TrackerStoreUnavailable(
                        "Another turn of this conversation was stored first; this one is not."
                    )
                # A new conversation; if another turn inserted it meanwhile, this fails.
                connection.execute(SNAPSHOTS.insert().values(sender_id=sender_id, data=snapshot))
            if abandoned.is_set():
                raise asyncio.CancelledError  # rolls the transaction back

    # Trackers and rows, on the event loop.

    def _from_snapshot(self, sender_id: str, text: str) -> DialogueStateTracker:
        snapshot = json.loads(text)
        prefix = [snapshot["session_start"]] if snapshot["session_start"] else []
        prefix += [SlotSet(name, value).as_dict() for name, value in snapshot["slots"].items()]
        if snapshot["active_loop"]:
            prefix.append(ActiveLoop(snapshot["active_loop"]).as_dict())
        tracker = DialogueStateTracker.from_events(
            sender_id, _deserialise(prefix + snapshot["recent"]), self.domain.slots
        )
        setattr(tracker, STORED, len(tracker.events))
        setattr(tracker, PREFIX, len(prefix))
        setattr(tracker, LOADED, text)
        return tracker

    def _from_events(
        self, sender_id: str, events: list[str], snapshot: str | None
    ) -> DialogueStateTracker:
        tracker = DialogueStateTracker.from_events(
            sender_id, _deserialise([json.loads(event) for event in events]), self.domain.slots
        )
        setattr(tracker, STORED, len(events))
        setattr(tracker, PREFIX, 0)
        if snapshot is not None:
            setattr(tracker, LOADED, snapshot)
        return tracker

    @staticmethod
    def _row(sender_id: str, event: Event) -> dict[str, Any]:
        data = event.as_dict()
        return {
            "sender_id": sender_id,
            "type_name": event.type_name,
            "timestamp": data.get("timestamp"),
            "intent_name": data.get("parse_data", {}).get("intent", {}).get("name"),
            "action_name": data.get("name"),
            "data": json.dumps(data),
        }

    @staticmethod
    def _snapshot(tracker: DialogueStateTracker, events: list[Event]) -> dict[str, Any]:
        starts = [i for i, e in enumerate(events) if isinstance(e, SessionStarted)]
        session_start = events[starts[-1]].as_dict() if starts else None
        body_start = max(starts[-1] + 1 if starts else 0, getattr(tracker, PREFIX, 0))
        body = events[body_start:]
        turn_starts = [i for i, e in enumerate(body) if isinstance(e, UserUttered)]
        if len(turn_starts) > RECENT_TURNS:
            body = body[turn_starts[-RECENT_TURNS] :]
        slots = {
            slot.name: slot.value
            for slot in tracker.slots.values()
            if slot.value != slot.initial_value
        }
        return {
            "session_start": session_start,
            "slots": slots,
            "active_loop": tracker.active_loop_name,
            "recent": [e.as_dict() for e in body],
        }
