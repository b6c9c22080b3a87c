"""Production services from the environment: PostgreSQL and Redis.

DATABASE_URL  postgresql://user:password@host:5432/db  -> tracker store (default: SQLite file)
REDIS_URL     redis://:password@host:6379/0            -> lock store (needed for replicas)
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import unquote, urlsplit

TRACKER_STORE = "bot.stores.tracker_store.SnapshotSQLTrackerStore"
# Rasa's Redis lock store, safe across replicas (bot/stores/lock_store.py).
LOCK_STORE = "bot.stores.lock_store.ReplicaSafeRedisLockStore"
CONNECT_TIMEOUT_SECONDS = 3


class ServiceUnavailable(RuntimeError):
    """A configured service cannot be reached; the message names it."""


def endpoints_from_env(endpoints: dict, environ: Mapping[str, str]) -> dict:
    """endpoints.yml's settings, with the services the environment names."""
    endpoints = dict(endpoints)
    if environ.get("DATABASE_URL"):
        url = urlsplit(environ["DATABASE_URL"])
        endpoints["tracker_store"] = {
            "type": TRACKER_STORE,
            "dialect": "postgresql",
            "url": url.hostname,  # Rasa passes `url` to the store as its host
            "port": url.port or 5432,
            "db": url.path.lstrip("/"),
            "username": unquote(url.username or "postgres"),
            "password": unquote(url.password or ""),
        }
    if environ.get("REDIS_URL"):
        url = urlsplit(environ["REDIS_URL"])
        endpoints["lock_store"] = {
            "type": LOCK_STORE,
            "url": url.hostname,
            "port": url.port or 6379,
            "db": int(url.path.lstrip("/") or 0),
            "password": unquote(url.password) if url.password else None,
        }
    return endpoints


def check_services(endpoints: dict) -> None:
    """Raise ServiceUnavailable, naming the service, when one cannot be reached.

    Rasa's SQL tracker store would otherwise retry forever at start-up, silently.
    """
    store = endpoints.get("tracker_store") or {}
    if store.get("dialect") == "postgresql":
        import psycopg2

        where = f"{store['url']}:{store['port']}/{store['db']}"
        try:
            psycopg2.connect(
                host=store["url"],
                port=store["port"],
                dbname=store["db"],
                user=store["username"],
                password=store["password"],
                connect_timeout=CONNECT_TIMEOUT_SECONDS,
            ).close()
        except psycopg2.Error as error:
            message = str(error).strip()
            raise ServiceUnavailable(f"PostgreSQL at {where} (DATABASE_URL): {message}") from error
    lock_store = endpoints.get("lock_store") or {}
    if lock_store.get("type") == LOCK_STORE:
        import redis

        where = f"{lock_store['url']}:{lock_store['port']}"
        try:
            redis.Redis(
                host=lock_store["url"],
                port=lock_store["port"],
                db=lock_store["db"],
                password=lock_store["password"],
                socket_timeout=CONNECT_TIMEOUT_SECONDS,
            ).ping()
        except redis.RedisError as error:
            raise ServiceUnavailable(f"Redis at {where} (REDIS_URL): {error}") from error
