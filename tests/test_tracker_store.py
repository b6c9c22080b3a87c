"""The snapshot tracker store, on SQLite and PostgreSQL: a bounded load per turn, the full
history kept, each turn stored whole in one transaction, database work off the event loop,
and failures that surface instead of falling back to memory."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
import traceback
import uuid
from datetime import datetime

import pytest
import sqlalchemy as sa
from rasa.core.tracker_store import FailSafeTrackerStore, SQLTrackerStore
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import (
    ActionExecuted,
    ActionExecutionRejected,
    ActiveLoop,
    AllSlotsReset,
    BotUttered,
    ConversationPaused,
    ConversationResumed,
    EntitiesAdded,
    Event,
    FollowupAction,
    LoopInterrupted,
    ReminderScheduled,
    Restarted,
    SessionStarted,
    SlotSet,
    UserUtteranceReverted,
    UserUttered,
)
from rasa.shared.core.trackers import DialogueStateTracker

from bot.stores.tracker_store import RECENT_TURNS, SnapshotSQLTrackerStore, TrackerStoreUnavailable
from ops.launcher import ROOT, free_port

QUESTIONS = [
    "does massage help",
    "what about heat?",
    "how do i prevent it",
    "can bad posture cause it",
    "what tests might i need",
]
DOMAIN = Domain.load(ROOT / "domain.yml")
# Longer than any loop stall a thread hop or a busy machine causes; shorter than the waits.
FREE_LOOP_SECONDS = 0.2
HELD_SECONDS = 0.6


def test_a_long_conversation_keeps_its_context_and_its_full_history(bot, rest, knowledge):
    sender = f"long-{uuid.uuid4()}"
    rest.send(sender, "it's been hurting for 3 weeks")
    turns = 40
    for turn in range(turns):
        rest.send(sender, QUESTIONS[turn % len(QUESTIONS)])
    last = rest.texts(sender, "does massage help")
    advice = knowledge.advice["persistent_pain"].answer
    assert last == [f"{knowledge.entries['massage'].answer}\n\n{advice}"]

    assert count_events(bot.settings.database_url, sender, "user") == turns + 2
    store = SnapshotSQLTrackerStore(DOMAIN, database_url=bot.settings.database_url)
    tracker = asyncio.run(store.retrieve(sender))
    assert tracker.get_slot("pain_persistence") == "persistent"
    user_turns_loaded = [e for e in tracker.events if e.type_name == "user"]
    assert len(user_turns_loaded) == RECENT_TURNS
    full = asyncio.run(store.retrieve_full_tracker(sender))
    assert len([e for e in full.events if e.type_name == "user"]) == turns + 2
    store.engine.dispose()


def count_events(url: str, sender: str, type_name: str | None = None) -> int:
    engine = sa.create_engine(url)
    query = "SELECT COUNT(*) FROM events WHERE sender_id = :sender"
    if type_name:
        query += " AND type_name = :type_name"
    with engine.connect() as connection:
        count = connection.execute(sa.text(query), {"sender": sender, "type_name": type_name})
        result = count.scalar()
    engine.dispose()
    return result


def turn(text: str, answer: str = "an answer") -> list[Event]:
    return [
        UserUttered(text, {"name": "ask", "confidence": 1.0}),
        ActionExecuted("utter_answer"),
        BotUttered(answer),
        ActionExecuted("action_listen"),
    ]


def new_conversation(sender: str, turns: int) -> DialogueStateTracker:
    events = [
        ActionExecuted("action_session_start"),
        SessionStarted(),
        ActionExecuted("action_listen"),
    ]
    events += [SlotSet("pain_persistence", "persistent")]
    for number in range(turns):
        events += turn(f"question {number}")
    return DialogueStateTracker.from_events(sender, events, DOMAIN.slots)


@pytest.fixture
def store(store_database_url):
    store = SnapshotSQLTrackerStore(DOMAIN, database_url=store_database_url)
    yield store
    store.engine.dispose()


def test_a_turn_loads_one_snapshot_and_stores_only_its_new_events(store, store_database_url):
    sender = f"snapshot-{uuid.uuid4()}"
    asyncio.run(store.save(new_conversation(sender, turns=RECENT_TURNS + 3)))
    stored = count_events(store_database_url, sender)

    tracker = asyncio.run(store.retrieve(sender))
    assert tracker.get_slot("pain_persistence") == "persistent"
    loaded = [e.text for e in tracker.events if isinstance(e, UserUttered)]
    assert loaded == [f"question {n}" for n in range(3, RECENT_TURNS + 3)]
    tracker.update_with_events(turn("one more"), DOMAIN)
    asyncio.run(store.save(tracker))

    assert count_events(store_database_url, sender) == stored + len(turn("one more"))
    again = asyncio.run(store.retrieve(sender))
    assert [e.text for e in again.events if isinstance(e, UserUttered)][-1] == "one more"
    full = asyncio.run(store.retrieve_full_tracker(sender))
    assert len([e for e in full.events if isinstance(e, UserUttered)]) == RECENT_TURNS + 4
    assert sender in asyncio.run(store.keys())
    assert asyncio.run(store.retrieve(f"nobody-{uuid.uuid4()}")) is None


def test_a_turn_that_lost_the_race_is_not_stored_at_all(store, store_database_url):
    sender = f"stale-{uuid.uuid4()}"
    asyncio.run(store.save(new_conversation(sender, turns=1)))
    first, second = asyncio.run(store.retrieve(sender)), asyncio.run(store.retrieve(sender))
    first.update_with_events(turn("first"), DOMAIN)
    second.update_with_events(turn("second"), DOMAIN)
    asyncio.run(store.save(first))
    stored = count_events(store_database_url, sender)

    with pytest.raises(TrackerStoreUnavailable):
        asyncio.run(store.save(second))

    assert count_events(store_database_url, sender) == stored  # none of its events
    latest = asyncio.run(store.retrieve(sender))
    assert [e.text for e in latest.events if isinstance(e, UserUttered)][-1] == "first"


def test_database_errors_pass_rasas_fail_safe_wrapper_and_never_quote_users(
    store, store_database_url, caplog
):
    secret = f"zebra{uuid.uuid4().hex}"
    sender = f"broken-{uuid.uuid4()}"
    asyncio.run(store.save(new_conversation(sender, turns=1)))
    tracker = asyncio.run(store.retrieve(sender))
    tracker.update_with_events(turn(f"my secret is {secret}"), DOMAIN)
    engine = sa.create_engine(store_database_url)
    with engine.begin() as connection:  # the database loses its tables
        connection.execute(sa.text("DROP TABLE events"))
        connection.execute(sa.text("DROP TABLE tracker_snapshots"))
    engine.dispose()
    # As Rasa's Agent wraps every tracker store.
    wrapped = FailSafeTrackerStore(store)

    with pytest.raises(TrackerStoreUnavailable) as saving:
        asyncio.run(wrapped.save(tracker))
    with pytest.raises(TrackerStoreUnavailable):
        asyncio.run(wrapped.retrieve(sender))  # not None: that would reset the context
    with pytest.raises(TrackerStoreUnavailable):
        asyncio.run(wrapped.retrieve_full_tracker(sender))

    assert not isinstance(saving.value, Exception)  # what `except Exception` cannot catch
    assert not list(asyncio.run(wrapped.fallback_tracker_store.keys()))  # nothing in memory
    told = "".join(traceback.format_exception(saving.value)) + caplog.text
    assert "could not store the turn" in told
    assert secret not in told


@pytest.mark.parametrize("sender", ["nul\x00in the middle", "lone \ud800 surrogate"])
def test_a_sender_the_database_cannot_hold_fails_the_turn_not_the_server(
    store, store_database_url, sender
):
    if "\x00" in sender and store_database_url.startswith("sqlite"):
        asyncio.run(store.save(new_conversation(sender, turns=1)))  # SQLite holds a NUL
        assert asyncio.run(store.retrieve(sender)).sender_id == sender
        return
    # PostgreSQL refuses a NUL, and both lone surrogates, with a ValueError of their drivers
    # (which Rasa's store turned into sys.exit).
    with pytest.raises(TrackerStoreUnavailable) as loading:
        asyncio.run(store.retrieve(sender))
    with pytest.raises(TrackerStoreUnavailable):
        asyncio.run(store.save(new_conversation(sender, turns=1)))
    assert "in the middle" not in str(loading.value) and "surrogate" not in str(loading.value)


def hold_the_write_lock(url: str, sender: str, seconds: float) -> threading.Event:
    """Another connection blocks writes to `sender`'s conversation for `seconds`, from a
    thread; the event is set once it holds the lock."""
    holding = threading.Event()

    def hold() -> None:
        engine = sa.create_engine(url)
        with engine.connect() as connection:
            if engine.dialect.name == "sqlite":
                connection.exec_driver_sql("BEGIN IMMEDIATE")
            else:
                connection.exec_driver_sql("BEGIN")
                connection.execute(
                    sa.text("SELECT * FROM tracker_snapshots WHERE sender_id = :s FOR UPDATE"),
                    {"s": sender},
                )
            holding.set()
            time.sleep(seconds)
            connection.exec_driver_sql("ROLLBACK")
        engine.dispose()

    threading.Thread(target=hold, daemon=True).start()
    assert holding.wait(10)
    return holding


async def longest_stall_while(work) -> float:
    """Runs `work` and returns the longest time the event loop could not run meanwhile."""
    stalls = [0.0]

    async def tick() -> None:
        last = time.perf_counter()
        while True:
            await asyncio.sleep(0.005)
            now = time.perf_counter()
            stalls.append(now - last)
            last = now

    ticker = asyncio.create_task(tick())
    await asyncio.sleep(0.02)
    try:
        await work
        await asyncio.sleep(0.02)  # the ticker notes the stall, if there was one
    finally:
        ticker.cancel()
    return max(stalls)


def test_every_kind_of_event_reads_back_as_it_was_stored(store):
    """The store reads events without Rasa's per-event class lookup; the result is the same."""
    sender = f"kinds-{uuid.uuid4()}"
    tracker = new_conversation(sender, turns=1)
    entities = [{"entity": "topic", "value": "posture", "start": 4, "end": 11}]
    kinds = [
        UserUttered("bad posture?", {"name": "ask_causes", "confidence": 0.9}, entities),
        EntitiesAdded(entities),
        BotUttered("an answer", {"buttons": [{"title": "Yes", "payload": "/affirm"}]}),
        ActiveLoop("a_form"),
        LoopInterrupted(True),
        ActionExecutionRejected("action_answer_health_question"),
        FollowupAction("action_listen"),
        ReminderScheduled("remind", datetime(2027, 1, 1), name="reminder"),
        ConversationPaused(),
        ConversationResumed(),
        UserUtteranceReverted(),
        AllSlotsReset(),
        Restarted(),
    ]
    tracker.update_with_events(kinds, DOMAIN)
    asyncio.run(store.save(tracker))

    stored = asyncio.run(store.retrieve_full_tracker(sender)).events
    assert list(stored) == list(tracker.events)
    dumped = [event.as_dict() for event in tracker.events]
    assert list(stored) == list(DialogueStateTracker.from_dict(sender, dumped).events)


def test_turns_stored_at_once_are_all_stored(store, store_database_url):
    """On SQLite the store's threads take turns to write; none is lost or stuck."""
    senders = [f"at-once-{n}-{uuid.uuid4()}" for n in range(20)]

    async def store_all() -> None:
        await asyncio.gather(*(store.save(new_conversation(s, turns=2)) for s in senders))

    asyncio.run(store_all())
    assert {count_events(store_database_url, s) for s in senders} == {4 + 2 * len(turn(""))}


def test_the_event_loop_keeps_running_while_a_commit_waits(store, store_database_url):
    sender = f"slow-{uuid.uuid4()}"
    asyncio.run(store.save(new_conversation(sender, turns=1)))
    tracker = asyncio.run(store.retrieve(sender))
    tracker.update_with_events(turn("while another writer holds the lock"), DOMAIN)
    stored = count_events(store_database_url, sender)

    hold_the_write_lock(store_database_url, sender, HELD_SECONDS)
    started = time.perf_counter()
    stall = asyncio.run(longest_stall_while(store.save(tracker)))

    assert time.perf_counter() - started >= HELD_SECONDS * 0.8  # it did wait for the lock
    assert stall < FREE_LOOP_SECONDS
    assert count_events(store_database_url, sender) == stored + 4


def test_a_turn_given_up_while_its_commit_waits_is_not_stored(store, store_database_url):
    sender = f"abandoned-{uuid.uuid4()}"
    asyncio.run(store.save(new_conversation(sender, turns=1)))
    tracker = asyncio.run(store.retrieve(sender))
    tracker.update_with_events(turn("answered too late"), DOMAIN)
    stored = count_events(store_database_url, sender)

    hold_the_write_lock(store_database_url, sender, HELD_SECONDS)

    async def give_up() -> None:
        with pytest.raises(asyncio.TimeoutError):  # as a channel's reply deadline does
            await asyncio.wait_for(store.save(tracker), HELD_SECONDS / 3)
        await asyncio.sleep(HELD_SECONDS * 2)  # the lock is gone; the thread has finished

    asyncio.run(give_up())
    assert count_events(store_database_url, sender) == stored


def test_sqlite_writes_ahead_and_syncs_each_commit(tmp_path):
    store = SnapshotSQLTrackerStore(DOMAIN, database_url=f"sqlite:///{tmp_path / 'c.db'}")
    with store.engine.connect() as connection:
        assert connection.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert connection.exec_driver_sql("PRAGMA synchronous").scalar() == 2  # FULL
    store.engine.dispose()


def test_a_database_that_is_down_at_start_up_fails_it_at_once():
    started = time.monotonic()
    with pytest.raises(TrackerStoreUnavailable):
        SnapshotSQLTrackerStore(DOMAIN, database_url=f"postgresql://u@127.0.0.1:{free_port()}/x")
    assert time.monotonic() - started < 10  # Rasa's own SQL store retries forever


def test_endpoints_name_only_the_store_type():
    with pytest.raises(ValueError, match="DATABASE_URL"):
        SnapshotSQLTrackerStore(DOMAIN, dialect="sqlite", db="rasa.db")


def test_a_conversation_stored_by_rasas_own_sql_store_is_read_and_continued(tmp_path):
    db = tmp_path / "rasa.db"
    rasa_store = SQLTrackerStore(DOMAIN, dialect="sqlite", db=str(db))
    asyncio.run(rasa_store.save(new_conversation("old", turns=2)))
    rasa_store.engine.dispose()
    store = SnapshotSQLTrackerStore(DOMAIN, database_url=f"sqlite:///{db}")

    tracker = asyncio.run(store.retrieve("old"))
    assert tracker.get_slot("pain_persistence") == "persistent"
    tracker.update_with_events(turn("new question"), DOMAIN)
    asyncio.run(store.save(tracker))

    with sqlite3.connect(db) as connection:
        (snapshots,) = connection.execute("SELECT COUNT(*) FROM tracker_snapshots").fetchone()
    assert snapshots == 1
    texts = [
        e.text for e in asyncio.run(store.retrieve("old")).events if isinstance(e, UserUttered)
    ]
    assert texts == ["question 0", "question 1", "new question"]
    store.engine.dispose()
