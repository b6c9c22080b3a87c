"""The conversation lock store, on a SQLite file and on Redis: the turns of one conversation
run one at a time, in arrival order, across processes, and a waiting turn takes over within
the 50 ms polling interval."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from rasa.utils.endpoints import EndpointConfig

from bot.stores.lock_store import (
    WAIT_SECONDS,
    ConversationLockStore,
    RedisTicketQueues,
    SQLiteTicketQueues,
)

TESTS = Path(__file__).parent
REDIS_URL = "redis://127.0.0.1:6379/7"


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=pytest.mark.services)])
def backend(request, tmp_path) -> tuple[str, str]:
    """(kind, where): a lock file of this test's own, or the shared Redis."""
    return request.param, REDIS_URL if request.param == "redis" else str(tmp_path / "locks.db")


def lock_store(backend: tuple[str, str]) -> ConversationLockStore:
    """A store on `backend`; made inside the event loop that uses it (redis.asyncio)."""
    kind, where = backend
    queues = RedisTicketQueues(where) if kind == "redis" else SQLiteTicketQueues(Path(where))
    return ConversationLockStore(queues=queues)


def conversation() -> str:
    return f"lock-{uuid.uuid4()}"


def test_turns_of_one_conversation_run_one_at_a_time_in_arrival_order(backend):
    async def run() -> list[int]:
        store, sender = lock_store(backend), conversation()
        entered, inside = [], []

        async def turn(number: int) -> None:
            async with store.lock(sender):
                inside.append(number)
                assert inside == [number]  # nobody else in the conversation meanwhile
                entered.append(number)
                await asyncio.sleep(0.01)
                inside.remove(number)

        turns = []
        for number in range(10):
            turns.append(asyncio.create_task(turn(number)))
            await asyncio.sleep(0.02)  # arrives after the one before
        await asyncio.gather(*turns)
        return entered

    assert asyncio.run(run()) == list(range(10))


def test_a_waiting_turn_takes_over_within_the_polling_interval(backend):
    async def run() -> float:
        store, sender = lock_store(backend), conversation()
        released = asyncio.Event()
        handed_over = []

        async def first() -> None:
            async with store.lock(sender):
                await asyncio.sleep(0.3)
            released.set()
            handed_over.append(time.perf_counter())

        async def second() -> None:
            await asyncio.sleep(0.05)
            async with store.lock(sender):
                handed_over.append(time.perf_counter())

        await asyncio.gather(first(), second())
        return handed_over[1] - handed_over[0]

    # Rasa's own stores look once a second.
    assert asyncio.run(run()) < WAIT_SECONDS + 0.1


def test_a_turn_given_up_while_waiting_gives_its_place_up(backend):
    async def run() -> list[str]:
        store, sender = lock_store(backend), conversation()
        entered = []

        async def turn(name: str, seconds: float) -> None:
            async with store.lock(sender):
                entered.append(name)
                await asyncio.sleep(seconds)

        holder = asyncio.create_task(turn("holder", 0.3))
        await asyncio.sleep(0.05)
        given_up = asyncio.create_task(asyncio.wait_for(turn("given up", 0), 0.1))
        await asyncio.sleep(0.05)
        last = asyncio.create_task(turn("last", 0))
        with pytest.raises(asyncio.TimeoutError):  # as a channel's reply deadline does
            await given_up
        await asyncio.wait_for(asyncio.gather(holder, last), 2)
        return entered

    assert asyncio.run(run()) == ["holder", "last"]


def run_workers(backend: tuple[str, str], *args: str, count: int) -> list[subprocess.Popen]:
    return [
        subprocess.Popen(
            [sys.executable, "-m", "helpers.lock_worker", *backend, *args],
            cwd=TESTS,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]


def test_processes_take_turns_too(backend, tmp_path):
    counter, turns, processes = tmp_path / "counter", 20, 3
    counter.write_text("0")
    workers = run_workers(
        backend, conversation(), "count", str(counter), str(turns), count=processes
    )
    for worker in workers:
        assert worker.wait(timeout=120) == 0
    assert int(counter.read_text()) == turns * processes  # no update lost


def test_the_tickets_of_a_process_that_died_are_dropped_at_once(tmp_path):
    backend, sender = ("sqlite", str(tmp_path / "locks.db")), conversation()
    (worker,) = run_workers(backend, sender, "hold", count=1)
    try:
        assert worker.stdout.readline().strip() == "holding"
    finally:
        os.kill(worker.pid, signal.SIGKILL)
        worker.wait(timeout=10)

    async def take() -> float:
        started = time.perf_counter()
        async with lock_store(backend).lock(sender):
            return time.perf_counter() - started

    assert asyncio.run(take()) < 1  # not the ticket's lifetime, a minute


def test_endpoints_name_only_the_lock_store_type():
    with pytest.raises(ValueError, match="REDIS_URL"):
        ConversationLockStore(EndpointConfig(url="localhost", port=6379))
