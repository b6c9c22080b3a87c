"""SQLite files that several processes (Sanic workers) open at once."""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

# How long a SQLite write waits for another process's write (each takes microseconds).
SQLITE_BUSY_SECONDS = 5


def retry_while_locked(
    work: Callable[[], T], seconds: float, errors: tuple[type[Exception], ...]
) -> T:
    """Run `work` again while SQLite says "database is locked", for up to `seconds`.

    Two Sanic workers open the same files at once. Switching to WAL, or upgrading a read
    lock to a write lock while the other does the same, fails at once with that error
    instead of waiting out the busy timeout, and the worker would exit.
    """
    deadline = time.monotonic() + seconds
    while True:
        try:
            return work()
        except errors as error:
            if "locked" not in str(error) or time.monotonic() > deadline:
                raise
            time.sleep(0.05 + random.random() * 0.1)  # apart, so the two do not clash again
