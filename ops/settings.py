"""The one place that turns the environment into the bot's settings.

Every process reads its settings here: the Rasa server's plug-ins (the stores and the
channels), the action server, the launcher, retention and the trainer. So `make run` and
a bare `rasa run` in the repo serve the same bot from the same environment. Unset
variables give the one-machine defaults: SQLite, a local lock file, everything on
127.0.0.1.

Rasa's own `${VAR}` expansion in endpoints.yml and credentials.yml refuses variables that
are not set, so the optional settings below are read here instead, by the plug-ins that
endpoints.yml and credentials.yml name.

| variable | default | what |
|---|---|---|
| DATABASE_URL | sqlite:///conversations.db (in the repo) | the tracker store |
| REDIS_URL | unset: a lock file on this machine | the lock store; needed across machines |
| LOCK_FILE | .rasa/conversation-locks.db | the local lock store's file |
| RASA_INTERFACE / RASA_PORT | 127.0.0.1 / 5005 | where `make run` serves the bot |
| SANIC_WORKERS | `make run`: one per core with REDIS_URL, else 1 | Rasa server processes |
| ACTION_SERVER_SANIC_WORKERS | 1 | action server processes (read by rasa_sdk) |
| ACTION_SERVER_HOST | 127.0.0.1 | where the action server listens |
| ACTION_SERVER_TOKEN | unset | required by the action server from any caller not on loopback |
| MAX_MESSAGE_CHARS | 1000 | longer messages get the "too long" reply |
| MAX_REQUEST_BYTES | 262144 | larger request bodies get 413 |
| REPLY_DEADLINE_SECONDS | 4.5 | every channel answers within this, or says it can't |
| WEBCHAT_ALLOWED_ORIGINS | the chat page's own origin | other origins allowed to open a socket |
| TELEGRAM_TOKEN, _BOT_NAME, _WEBHOOK_URL | unset: Telegram off | all three turn Telegram on |
| TELEGRAM_SECRET_TOKEN, TELEGRAM_API_BASE_URL | random per start / Telegram's | |
| ENABLE_API with RASA_API_TOKEN or RASA_JWT_SECRET | off | Rasa's HTTP API |
| RETENTION_DAYS | 30 | `make purge` deletes conversations idle for longer |
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL_NAME = "upper-back"
MODEL_PATH = ROOT / "models" / f"{MODEL_NAME}.tar.gz"
ENDPOINTS_FILE = ROOT / "endpoints.yml"
CREDENTIALS_FILE = ROOT / "credentials.yml"
TELEGRAM_SECRET = re.compile(r"[A-Za-z0-9_-]{1,256}")
LOOPBACK_HOSTS = {"127.0.0.1", "::1", "localhost"}


class SettingsError(ValueError):
    """A setting in the environment is malformed; the message names the variable."""


@dataclass(frozen=True)
class Limits:
    """What any client may send, in every channel."""

    max_message_chars: int
    max_request_bytes: int
    reply_deadline_seconds: float


@dataclass(frozen=True)
class Telegram:
    token: str
    bot_name: str
    webhook_url: str
    secret_token: str | None
    api_base_url: str | None


@dataclass(frozen=True)
class ApiAccess:
    """Rasa's HTTP API, which is on only with one of these secrets."""

    token: str | None
    jwt_secret: str | None


@dataclass(frozen=True)
class Settings:
    database_url: str
    redis_url: str | None
    lock_file: Path
    rasa_interface: str
    rasa_port: int
    workers: int | None  # None: SANIC_WORKERS unset
    action_host: str
    action_token: str | None
    limits: Limits
    webchat_origins: tuple[str, ...] | None
    telegram: Telegram | None
    api: ApiAccess | None
    retention_days: float

    @property
    def action_server_is_exposed(self) -> bool:
        return self.action_host not in LOOPBACK_HOSTS


def _number(environ: Mapping[str, str], name: str, default: float, kind: type) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = kind(raw)
    except ValueError:
        raise SettingsError(f"{name} must be a number, not {raw!r}") from None
    if value <= 0:
        raise SettingsError(f"{name} must be more than 0")
    return value


def _database_url(environ: Mapping[str, str]) -> str:
    url = environ.get("DATABASE_URL", "").strip()
    if not url:
        return f"sqlite:///{ROOT / 'conversations.db'}"
    if not url.startswith(("postgresql://", "postgres://", "sqlite:///")):
        raise SettingsError("DATABASE_URL must be a postgresql:// or sqlite:/// URL")
    if url.startswith("postgres://"):  # SQLAlchemy knows PostgreSQL only by its full name
        return "postgresql://" + url.removeprefix("postgres://")
    return url


def _telegram(environ: Mapping[str, str]) -> Telegram | None:
    required = ("TELEGRAM_TOKEN", "TELEGRAM_BOT_NAME", "TELEGRAM_WEBHOOK_URL")
    present = [name for name in required if environ.get(name)]
    if not present:
        return None
    if len(present) < len(required):
        missing = ", ".join(name for name in required if name not in present)
        raise SettingsError(f"Telegram needs {', '.join(required)}; missing: {missing}")
    secret = environ.get("TELEGRAM_SECRET_TOKEN") or None
    if secret is not None and not TELEGRAM_SECRET.fullmatch(secret):
        raise SettingsError("TELEGRAM_SECRET_TOKEN must be 1-256 of A-Z a-z 0-9 _ -")
    return Telegram(
        token=environ["TELEGRAM_TOKEN"],
        bot_name=environ["TELEGRAM_BOT_NAME"],
        webhook_url=environ["TELEGRAM_WEBHOOK_URL"],
        secret_token=secret,
        api_base_url=environ.get("TELEGRAM_API_BASE_URL") or None,
    )


def _webchat_origins(environ: Mapping[str, str]) -> tuple[str, ...] | None:
    origins = [o.strip().rstrip("/") for o in environ.get("WEBCHAT_ALLOWED_ORIGINS", "").split(",")]
    origins = [o for o in origins if o]
    if "*" in origins:
        raise SettingsError("WEBCHAT_ALLOWED_ORIGINS must list origins; '*' is not allowed")
    return tuple(origins) or None


def _api(environ: Mapping[str, str]) -> ApiAccess | None:
    if environ.get("ENABLE_API", "").lower() not in ("1", "true", "yes"):
        return None
    token, jwt_secret = environ.get("RASA_API_TOKEN"), environ.get("RASA_JWT_SECRET")
    if not (token or jwt_secret):
        raise SettingsError("ENABLE_API is set but neither RASA_API_TOKEN nor RASA_JWT_SECRET is")
    return ApiAccess(token=token or None, jwt_secret=jwt_secret or None)


def load(environ: Mapping[str, str]) -> Settings:
    """The settings `environ` describes; SettingsError names what is malformed."""
    action_host = environ.get("ACTION_SERVER_HOST", "127.0.0.1").strip()
    action_token = environ.get("ACTION_SERVER_TOKEN") or None
    if action_host not in LOOPBACK_HOSTS and not action_token:
        raise SettingsError(
            f"ACTION_SERVER_HOST={action_host} exposes the action server: set ACTION_SERVER_TOKEN"
        )
    return Settings(
        database_url=_database_url(environ),
        redis_url=environ.get("REDIS_URL", "").strip() or None,
        lock_file=Path(environ.get("LOCK_FILE") or ROOT / ".rasa" / "conversation-locks.db"),
        rasa_interface=environ.get("RASA_INTERFACE", "127.0.0.1").strip(),
        rasa_port=int(_number(environ, "RASA_PORT", 5005, int)),
        workers=int(_number(environ, "SANIC_WORKERS", 0, int)) or None,
        action_host=action_host,
        action_token=action_token,
        limits=Limits(
            max_message_chars=int(_number(environ, "MAX_MESSAGE_CHARS", 1000, int)),
            max_request_bytes=int(_number(environ, "MAX_REQUEST_BYTES", 262_144, int)),
            reply_deadline_seconds=_number(environ, "REPLY_DEADLINE_SECONDS", 4.5, float),
        ),
        webchat_origins=_webchat_origins(environ),
        telegram=_telegram(environ),
        api=_api(environ),
        retention_days=_number(environ, "RETENTION_DAYS", 30, float),
    )


@cache
def current() -> Settings:
    """This process's settings, read once from its environment."""
    return load(os.environ)
