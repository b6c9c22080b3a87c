"""Rasa's Redis lock store, made safe for several server processes and quick to hand over.

Rasa serialises the turns of one conversation with a ticket queue per conversation.
Its RedisLockStore keeps that queue as one JSON value and changes it by read-modify-write
(GET, change, SET). Within one process nothing runs in between; across replicas two
messages can draw the same ticket and run at once, and one replica finishing a turn can
drop the ticket another replica just added, whose message then fails with LockError.
Here every change to a queue holds a short Redis mutex, so it is atomic across processes.

Rasa also has a waiting message look at the queue once a second, so a burst of messages
on one conversation takes a second per message, past the REST reply deadline. Here it
looks every 50 ms.

endpoints.yml:  lock_store: {type: bot.stores.lock_store.ConversationLockStore}
With REDIS_URL (ops/settings.py) the lock is in Redis; without it, in this process.
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from urllib.parse import unquote, urlsplit

from rasa.core.lock import TicketLock
from rasa.core.lock_store import LOCK_LIFETIME, InMemoryLockStore, LockStore, RedisLockStore
from rasa.utils.endpoints import EndpointConfig
from redis.lock import Lock

from ops.settings import current

WAIT_SECONDS = 0.05
# A mutex is held for a few Redis round trips; it expires on its own if its process dies.
MUTEX_SECONDS = 5
MUTEX_KEY_PREFIX = "queue_mutex:"


class ReplicaSafeRedisLockStore(RedisLockStore):
    def __init__(self, redis_url: str) -> None:
        url = urlsplit(redis_url)
        super().__init__(
            host=url.hostname,
            port=url.port or 6379,
            db=int(url.path.lstrip("/") or 0),
            password=unquote(url.password) if url.password else None,
        )

    def _queue_mutex(self, conversation_id: str) -> Lock:
        return self.red.lock(
            f"{MUTEX_KEY_PREFIX}{self.key_prefix}{conversation_id}",
            timeout=MUTEX_SECONDS,
            blocking_timeout=MUTEX_SECONDS,
            sleep=0.005,
        )

    def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = WAIT_SECONDS,
    ) -> AbstractAsyncContextManager[TicketLock]:
        return super().lock(conversation_id, lock_lifetime, wait_time_in_seconds)

    def issue_ticket(self, conversation_id: str, lock_lifetime: float = LOCK_LIFETIME) -> int:
        with self._queue_mutex(conversation_id):
            return super().issue_ticket(conversation_id, lock_lifetime)

    def update_lock(self, conversation_id: str) -> None:
        with self._queue_mutex(conversation_id):
            super().update_lock(conversation_id)

    def cleanup(self, conversation_id: str, ticket_number: int) -> None:
        # Removing this ticket and deleting the queue when nobody waits: one step.
        with self._queue_mutex(conversation_id):
            super().cleanup(conversation_id, ticket_number)


class FastInMemoryLockStore(InMemoryLockStore):
    """Rasa's in-process lock, looking at the queue every 50 ms instead of every second."""

    def lock(
        self,
        conversation_id: str,
        lock_lifetime: float = LOCK_LIFETIME,
        wait_time_in_seconds: float = WAIT_SECONDS,
    ) -> AbstractAsyncContextManager[TicketLock]:
        return super().lock(conversation_id, lock_lifetime, wait_time_in_seconds)


class ConversationLockStore(LockStore):
    """The lock store for the environment: Redis with REDIS_URL, else this process."""

    def __new__(cls, endpoint_config: EndpointConfig) -> LockStore:  # type: ignore[misc]
        redis_url = current().redis_url
        return ReplicaSafeRedisLockStore(redis_url) if redis_url else FastInMemoryLockStore()
