"""One conversation's turns run one at a time, in arrival order, across processes.

Rasa serialises the turns of a conversation with a ticket queue: a message draws the next
ticket and waits until its ticket is the first one in the queue. Rasa's own lock stores fall
short:
- the in-memory one, Rasa's default, works only inside one process, and a waiting message
  looks at the queue once a second, so in a burst most messages miss the reply deadline;
- the Redis one changes a queue by read-modify-write (GET, change, SET): across processes
  two messages can draw the same ticket and run at once, and one finishing can drop the
  ticket another just drew.

ConversationLockStore keeps the queues
- in Redis when REDIS_URL is set (processes on several machines): each change is one Lua
  script (Redis 5 or later) or one command, which Redis runs atomically;
- otherwise in a SQLite file on this machine (LOCK_FILE): each change is one
  `BEGIN IMMEDIATE` transaction, and the tickets of a process that is gone (crashed) are
  dropped at once, by its process id (so the processes must share a PID namespace, as they
  do on one machine unless containers share the file);
and a waiting message looks every 50 ms. Neither blocks the event loop: Redis is reached
through redis.asyncio, the SQLite file from a thread of its own.

endpoints.yml:  lock_store: {type: bot.stores.lock_store.ConversationLockStore}
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, Protocol, TypeVar

import redis.asyncio
from rasa.core.lock_store import LOCK_LIFETIME, LockError, LockStore
from rasa.utils.endpoints import EndpointConfig

from bot.stores.sqlite_startup import SQLITE_BUSY_SECONDS, retry_while_locked
from ops import settings

logger = logging.getLogger(__name__)
T = TypeVar("T")

WAIT_SECONDS = 0.05
REDIS_TIMEOUT_SECONDS = 3
REDIS_KEY_PREFIX = "conversation_tickets:"

# A queue is a hash of ticket number -> expiry time. Times come from Redis's clock, so the
# machines' clocks need not agree.
REDIS_ISSUE = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local queue = redis.call('HGETALL', KEYS[1])
local last = -1
for i = 1, #queue, 2 do
  local number = tonumber(queue[i])
  if tonumber(queue[i + 1]) < now then
    redis.call('HDEL', KEYS[1], queue[i])
  elseif number > last then
    last = number
  end
end
local lifetime = tonumber(ARGV[1])
redis.call('HSET', KEYS[1], last + 1, string.format('%.6f', now + lifetime))
-- The queue of a conversation whose processes are gone goes away on its own.
redis.call('EXPIRE', KEYS[1], math.ceil(lifetime))
return last + 1
"""
# The first ticket in the queue, or -1 if this ticket is no longer in it.
REDIS_FIRST = """
local clock = redis.call('TIME')
local now = tonumber(clock[1]) + tonumber(clock[2]) / 1000000
local queue = redis.call('HGETALL', KEYS[1])
local first, mine = nil, false
for i = 1, #queue, 2 do
  if tonumber(queue[i + 1]) >= now then
    local number = tonumber(queue[i])
    if first == nil or number < first then first = number end
    if number == tonumber(ARGV[1]) then mine = true end
  end
end
if mine then return first end
return -1
"""


class TicketQueues(Protocol):
    """Each conversation's queue of tickets, shared by every process that serves it."""

    async def issue(self, conversation_id: str, lifetime: float) -> int:
        """Append a ticket that expires after `lifetime` seconds; its number."""

    async def first(self, conversation_id: str, ticket: int) -> int | None:
        """The number of the first ticket in the queue; None if `ticket` is not in it."""

    async def remove(self, conversation_id: str, ticket: int) -> None:
        """Take `ticket` out of the queue."""


class RedisTicketQueues:
    def __init__(self, url: str) -> None:
        self.redis = redis.asyncio.Redis.from_url(
            url,
            socket_timeout=REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=REDIS_TIMEOUT_SECONDS,
        )
        self._issue = self.redis.register_script(REDIS_ISSUE)
        self._first = self.redis.register_script(REDIS_FIRST)

    async def issue(self, conversation_id: str, lifetime: float) -> int:
        return int(await self._issue(keys=[REDIS_KEY_PREFIX + conversation_id], args=[lifetime]))

    async def first(self, conversation_id: str, ticket: int) -> int | None:
        number = int(await self._first(keys=[REDIS_KEY_PREFIX + conversation_id], args=[ticket]))
        return None if number < 0 else number

    async def remove(self, conversation_id: str, ticket: int) -> None:
        await self.redis.hdel(REDIS_KEY_PREFIX + conversation_id, ticket)


def process_is_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's
        return True
    return True


class SQLiteTicketQueues:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # One thread and its connection: the loop never waits for the file.
        self._thread = ThreadPoolExecutor(1, thread_name_prefix="lock-store")
        self._connection = sqlite3.connect(
            path, timeout=SQLITE_BUSY_SECONDS, isolation_level=None, check_same_thread=False
        )
        # No durability needed: a ticket means nothing once its process is gone, and after
        # a machine crash all are. WAL with synchronous=NORMAL never waits for the disk on
        # commit, and unlike synchronous=OFF it cannot corrupt the file on a power cut.
        retry_while_locked(self._set_up, SQLITE_BUSY_SECONDS, (sqlite3.OperationalError,))

    def _set_up(self) -> None:
        self._connection.execute("PRAGMA journal_mode=WAL")
        self._connection.execute("PRAGMA synchronous=NORMAL")
        self._connection.execute(
            "CREATE TABLE IF NOT EXISTS tickets (conversation_id TEXT NOT NULL,"
            " number INTEGER NOT NULL, expires REAL NOT NULL, pid INTEGER NOT NULL,"
            " PRIMARY KEY (conversation_id, number)) WITHOUT ROWID"
        )

    async def _in_thread(self, work: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._thread, work, *args)

    async def issue(self, conversation_id: str, lifetime: float) -> int:
        return await self._in_thread(self._issue, conversation_id, lifetime)

    async def first(self, conversation_id: str, ticket: int) -> int | None:
        return await self._in_thread(self._first, conversation_id, ticket)

    async def remove(self, conversation_id: str, ticket: int) -> None:
        await self._in_thread(self._remove, conversation_id, ticket)

    @contextmanager
    def _transaction(self) -> Iterator[sqlite3.Connection]:
        # IMMEDIATE: the write lock from the start, so no other process changes the queue
        # between this transaction's reads and its writes.
        self._connection.execute("BEGIN IMMEDIATE")
        try:
            yield self._connection
        except BaseException:
            if self._connection.in_transaction:  # SQLite ends some failed ones itself
                self._connection.execute("ROLLBACK")
            raise
        self._connection.execute("COMMIT")

    @staticmethod
    def _drop_stale(connection: sqlite3.Connection, conversation_id: str) -> list[int]:
        """Drop expired tickets and those of processes that are gone; the rest, in order."""
        connection.execute(
            "DELETE FROM tickets WHERE conversation_id = ? AND expires < ?",
            (conversation_id, time.time()),
        )
        numbers = []
        for number, pid in connection.execute(
            "SELECT number, pid FROM tickets WHERE conversation_id = ? ORDER BY number",
            (conversation_id,),
        ).fetchall():
            if process_is_alive(pid):
                numbers.append(number)
            else:
                connection.execute(
                    "DELETE FROM tickets WHERE conversation_id = ? AND number = ?",
                    (conversation_id, number),
                )
        return numbers

    def _issue(self, conversation_id: str, lifetime: float) -> int:
        with self._transaction() as connection:
            numbers = self._drop_stale(connection, conversation_id)
            number = numbers[-1] + 1 if numbers else 0
            connection.execute(
                "INSERT INTO tickets VALUES (?, ?, ?, ?)",
                (conversation_id, number, time.time() + lifetime, os.getpid()),
            )
        return number

    def _first(self, conversation_id: str, ticket: int) -> int | None:
        with self._transaction() as connection:
            numbers = self._drop_stale(connection, conversation_id)
        return numbers[0] if ticket in numbers else None

    def _remove(self, conversation_id: str, ticket: int) -> None:
        self._connection.execute(
            "DELETE FROM tickets WHERE conversation_id = ? AND number = ?",
            (conversation_id, ticket),
        )


class ConversationLockStore(LockStore):
    def __init__(
        self, endpoint_config: EndpointConfig | None = None, queues: TicketQueues | None = None
    ) -> None:
        """`queues` is for tests; the server reads REDIS_URL and LOCK_FILE."""
        if endpoint_config is not None and (endpoint_config.url or endpoint_config.kwargs):
            raise ValueError(
                "The lock store reads REDIS_URL or LOCK_FILE (ops/settings.py); "
                "endpoints.yml names only its type."
            )
        super().__init__()
        if queues is None:
            current = settings.current()
            queues = (
                RedisTicketQueues(current.redis_url)
                if current.redis_url
                else SQLiteTicketQueues(current.lock_file)
            )
        self.queues = queues

    @asynccontextmanager
    async def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = WAIT_SECONDS,
    ) -> AsyncIterator[None]:
        issuing = asyncio.ensure_future(self.queues.issue(conversation_id, lock_lifetime))
        try:
            ticket = await asyncio.shield(issuing)
            while (first := await self.queues.first(conversation_id, ticket)) != ticket:
                if first is None:
                    raise LockError("A conversation's ticket expired while it waited.")
                await asyncio.sleep(wait_time_in_seconds)
            yield
        finally:
            # Shielded: a turn that is cancelled (a reply deadline) still hands the
            # conversation on, even if it was cancelled while its ticket was being drawn.
            await asyncio.shield(self._return_ticket(conversation_id, issuing))

    async def _return_ticket(self, conversation_id: str, issuing: asyncio.Future) -> None:
        try:
            ticket = await issuing
        except Exception:
            return  # none was drawn; the turn failed with that error already
        try:
            await self.queues.remove(conversation_id, ticket)
        except Exception as error:
            # The turn is done (and stored); failing it now would tell the user otherwise.
            logger.error(
                "Could not return a conversation's ticket (%s); it expires on its own.",
                type(error).__name__,
            )
