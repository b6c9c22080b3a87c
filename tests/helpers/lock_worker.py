"""A process that takes one conversation's lock, for the lock store's cross-process tests.

python -m helpers.lock_worker KIND WHERE CONVERSATION count COUNTER_FILE TURNS
    TURNS times: under the lock, read the counter file, wait a moment, write it plus one.
python -m helpers.lock_worker KIND WHERE CONVERSATION hold
    take the lock, say "holding" on stdout, and keep it until killed.
KIND is redis (WHERE a URL) or sqlite (WHERE a lock file).
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from bot.stores.lock_store import ConversationLockStore, RedisTicketQueues, SQLiteTicketQueues


async def main(kind: str, where: str, conversation: str, mode: str, *args: str) -> None:
    queues = RedisTicketQueues(where) if kind == "redis" else SQLiteTicketQueues(Path(where))
    store = ConversationLockStore(queues=queues)
    if mode == "hold":
        async with store.lock(conversation):
            print("holding", flush=True)
            await asyncio.sleep(3600)
    counter, turns = Path(args[0]), int(args[1])
    for _ in range(turns):
        async with store.lock(conversation):
            value = int(counter.read_text())
            await asyncio.sleep(0.002)  # a lost update, if another process got in meanwhile
            counter.write_text(str(value + 1))


if __name__ == "__main__":
    asyncio.run(main(*sys.argv[1:]))
