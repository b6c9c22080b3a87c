"""Start-up checks of the production services the settings name: PostgreSQL and Redis.

DATABASE_URL  postgresql://user:password@host:5432/db  -> tracker store (default: SQLite file)
REDIS_URL     redis://:password@host:6379/0            -> lock store (default: a local file)
"""

from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa

from ops.settings import Settings

CONNECT_TIMEOUT_SECONDS = 3


class ServiceUnavailable(RuntimeError):
    """A configured service cannot be reached; the message names it."""


def check_services(settings: Settings) -> None:
    """Raise ServiceUnavailable, naming the service, when one cannot be reached.

    The servers would otherwise start and then answer every message that they can't.
    """
    database = sa.engine.make_url(settings.database_url)
    if database.get_backend_name() == "postgresql":
        import psycopg2

        where = f"{database.host}:{database.port or 5432}/{database.database}"
        try:
            psycopg2.connect(settings.database_url, connect_timeout=CONNECT_TIMEOUT_SECONDS).close()
        except psycopg2.Error as error:
            message = str(error).strip()
            raise ServiceUnavailable(f"PostgreSQL at {where} (DATABASE_URL): {message}") from error
    if settings.redis_url:
        import redis

        url = urlsplit(settings.redis_url)
        try:
            redis.Redis.from_url(settings.redis_url, socket_timeout=CONNECT_TIMEOUT_SECONDS).ping()
        except redis.RedisError as error:
            where = f"{url.hostname}:{url.port or 6379}"
            raise ServiceUnavailable(f"Redis at {where} (REDIS_URL): {error}") from error
