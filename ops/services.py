"""Start-up checks of the services the environment names: PostgreSQL and Redis.

Rasa's SQL tracker store would otherwise retry at start-up silently, and a lock store
failure would first show on the first message. `make run` and `make cluster` stop with
an error naming the service instead.
"""

from __future__ import annotations

import sqlalchemy as sa

from ops.settings import Settings

CONNECT_TIMEOUT_SECONDS = 3


class ServiceUnavailable(RuntimeError):
    """A configured service cannot be reached; the message names it."""


def check_services(settings: Settings) -> None:
    """Raise ServiceUnavailable, naming the service, when one cannot be reached."""
    url = sa.engine.make_url(settings.database_url)
    if url.get_backend_name() == "postgresql":
        engine = sa.create_engine(url, connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS})
        try:
            engine.connect().close()
        except sa.exc.SQLAlchemyError as error:
            where = f"{url.host}:{url.port or 5432}/{url.database}"
            reason = str(getattr(error, "orig", error)).strip().splitlines()[0]
            raise ServiceUnavailable(f"PostgreSQL at {where} (DATABASE_URL): {reason}") from error
        finally:
            engine.dispose()
    if settings.redis_url:
        import redis

        client = redis.Redis.from_url(settings.redis_url, socket_timeout=CONNECT_TIMEOUT_SECONDS)
        try:
            client.ping()
        except redis.RedisError as error:
            raise ServiceUnavailable(f"Redis (REDIS_URL): {error}") from error
        finally:
            client.close()
