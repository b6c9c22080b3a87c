"""`make run`: the action server and the Rasa server, kept up by the supervisor.

Both servers read their settings from the environment (ops/settings.py), and Rasa reads
the repo's own endpoints.yml and credentials.yml, so a bare `rasa run` and
`rasa run actions` in the repo serve the same bot. Tests and benchmarks start a
`BotServer` too, on free ports.
"""

from __future__ import annotations

import argparse
import os
import socket
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import urlsplit

import yaml

from ops.services import ServiceUnavailable, check_services
from ops.settings import (
    CREDENTIALS_FILE,
    ENDPOINTS_FILE,
    MODEL_PATH,
    ROOT,
    Settings,
    SettingsError,
    load,
)
from ops.supervisor import Service, Supervisor
from rasa_sdk_plugins import TOKEN_HEADER

RASA = str(Path(sys.executable).with_name("rasa"))
# The action server's own environment (make setup): rasa_sdk and what the actions import.
ACTIONS_PYTHON = ROOT / ".venv-actions" / "bin" / "python"
DEFAULT_MODEL = MODEL_PATH
# Quiet logs for every server process.
SERVER_ENV = {
    "RASA_TELEMETRY_ENABLED": "false",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    "PYTHONWARNINGS": "ignore",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rasa_workers(settings: Settings, cores: int | None = None) -> int:
    """How many Rasa server processes `make run` starts: SANIC_WORKERS when set, else one
    per core with Redis and one on the embedded default (README: Running it in production).

    Rasa's turn is Python on one core, so a second core serves only through a second
    process. Without Redis, Rasa has no lock store of its own that works across processes
    without a server; our lock file does (tests/test_bursts.py runs two workers on it), so
    SANIC_WORKERS=2 there is a choice a user makes, not the default.
    """
    if settings.workers is not None:
        return settings.workers
    return (cores or os.cpu_count() or 1) if settings.redis_url else 1


def configured_action_port() -> int:
    """The action server's port, from the action endpoint in endpoints.yml."""
    endpoints = yaml.safe_load(ENDPOINTS_FILE.read_text(encoding="utf-8"))
    return urlsplit(endpoints["action_endpoint"]["url"]).port


class BotServer:
    """The action server and the Rasa server, configured by `env` on top of os.environ."""

    def __init__(
        self,
        rasa_port: int | None = None,
        action_port: int | None = None,
        model: Path = DEFAULT_MODEL,
        env: Mapping[str, str] | None = None,
        log_dir: Path | None = None,
        endpoints_file: Path = ENDPOINTS_FILE,
        workers: int | None = None,
    ) -> None:
        """`workers`: Rasa server processes; by default SANIC_WORKERS, else one."""
        self.env = {**SERVER_ENV, **(env or {})}
        self.settings: Settings = load({**os.environ, **self.env})
        self.workers = workers or self.settings.workers or 1
        self.rasa_port = rasa_port or self.settings.rasa_port
        self.action_port = action_port or configured_action_port()
        self.model = model
        self.log_dir = log_dir
        self.endpoints_file = self._endpoints_file(endpoints_file)
        self.supervisor = Supervisor(
            [self.action_service(), self.rasa_service("run")], log_dir=log_dir
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def action_url(self) -> str:
        return f"http://127.0.0.1:{self.action_port}"

    @property
    def rest_url(self) -> str:
        return f"{self.url}/webhooks/rest/webhook"

    def _endpoints_file(self, base: Path) -> Path:
        """`base`, or a copy that reaches this action server on its port and token."""
        token = self.settings.action_token
        if self.action_port == configured_action_port() and token is None:
            return base
        endpoints = yaml.safe_load(base.read_text(encoding="utf-8"))
        endpoints["action_endpoint"]["url"] = f"{self.action_url}/webhook"
        if token is not None:
            endpoints["action_endpoint"]["headers"] = {TOKEN_HEADER: token}
        handle, path = tempfile.mkstemp(prefix="endpoints-", suffix=".yml")
        with os.fdopen(handle, "w") as out:
            yaml.safe_dump(endpoints, out)
        return Path(path)

    def action_service(self) -> Service:
        # rasa_sdk alone: `rasa run actions` would also load Rasa and TensorFlow.
        args = [str(ACTIONS_PYTHON), "-m", "rasa_sdk", "--actions", "actions"]
        return Service(
            "actions",
            [*args, "--port", str(self.action_port)],
            f"{self.action_url}/health",
            env={**self.env, "SANIC_HOST": self.settings.action_host},
            start_timeout=60,
        )

    def rasa_args(self, command: str) -> list[str]:
        """`rasa run`/`rasa shell` with the repo's files and the API only when enabled."""
        args = [RASA, command, "--model", str(self.model), "--endpoints", str(self.endpoints_file),
                "--credentials", str(CREDENTIALS_FILE)]  # fmt: skip
        api = self.settings.api
        if api is not None:
            secret = ("--auth-token", api.token) if api.token else ("--jwt-secret", api.jwt_secret)
            args += ["--enable-api", *secret]
        return args

    def rasa_service(self, command: str) -> Service:
        args = self.rasa_args(command)
        args += ["--port", str(self.rasa_port), "--interface", self.settings.rasa_interface]
        env = {**self.env, "SANIC_WORKERS": str(self.workers)}
        return Service("rasa", args, f"{self.url}/webhooks/rest/", env=env)

    def start(self) -> BotServer:
        if not ACTIONS_PYTHON.exists():
            raise RuntimeError(f"{ACTIONS_PYTHON} is missing: run `make setup`")
        self.supervisor.start()
        return self

    def start_actions(self) -> None:
        self.supervisor.start_one("actions")

    def start_rasa(self) -> None:
        self.supervisor.start_one("rasa")

    def stop(self) -> None:
        self.supervisor.stop()
        if self.endpoints_file.parent == Path(tempfile.gettempdir()):
            self.endpoints_file.unlink(missing_ok=True)

    def __enter__(self) -> BotServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def print_endpoints(bot: BotServer) -> None:
    settings = bot.settings
    host = "localhost" if settings.rasa_interface == "127.0.0.1" else settings.rasa_interface
    print(f"Action server:   {bot.action_url}/webhook (listening on {settings.action_host})")
    print(f"Rasa server:     {bot.workers} process(es) (SANIC_WORKERS)")
    print(f"REST channel:    http://{host}:{bot.rasa_port}/webhooks/rest/webhook")
    print(f"Socket.IO:       http://{host}:{bot.rasa_port}/socket.io/")
    print(f"Chat page:       http://{host}:{bot.rasa_port}/chat/")
    if settings.telegram:
        print(f"Telegram:        webhook at {settings.telegram.webhook_url}")
    else:
        print("Telegram: off (set TELEGRAM_TOKEN, TELEGRAM_BOT_NAME, TELEGRAM_WEBHOOK_URL)")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shell", action="store_true", help="chat in this terminal")
    args = parser.parse_args()
    try:
        settings = load(os.environ)
        bot = BotServer(workers=rasa_workers(settings))
        check_services(bot.settings)
    except (SettingsError, ServiceUnavailable) as error:
        print(f"Could not start the bot: {error}", file=sys.stderr)
        return 1
    supervisor = bot.supervisor
    supervisor.stop_on_signals()
    if args.shell:
        actions = Supervisor([bot.action_service()])
        actions.stop_on_signals()
        with actions:
            return subprocess.call(bot.rasa_args("shell"), cwd=ROOT, env={**os.environ, **bot.env})
    print("Starting the action server and the Rasa server (loading the model)...", flush=True)
    try:
        bot.start()
    except (RuntimeError, TimeoutError) as error:
        print(f"Could not start the bot: {error}", file=sys.stderr)
        return 1
    except InterruptedError:
        return 0
    print_endpoints(bot)
    print("Ready. Press Ctrl-C to stop.", flush=True)
    supervisor.run()
    print("Stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
