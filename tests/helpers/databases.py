"""Scratch databases on the machine's shared PostgreSQL server, dropped afterwards."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

import psycopg2

POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}


@contextlib.contextmanager
def scratch_postgres_database(prefix: str = "bot") -> Iterator[str]:
    """A fresh database's name; it is dropped, with any open connections, on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(dbname="postgres", **POSTGRES)
    admin.autocommit = True
    try:
        admin.cursor().execute(f"CREATE DATABASE {name}")
        yield name
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()
