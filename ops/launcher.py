"""Start the action server and the Rasa server together (`make run`, `make shell`).

Tests and benchmarks use `BotServer` too, on free ports, so they run beside a live bot.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

import yaml

from bot import ROOT
from ops import settings

RASA = str(Path(sys.executable).with_name("rasa"))
# The action server's own environment (make setup): rasa_sdk and what the actions import.
ACTIONS_PYTHON = ROOT / ".venv-actions" / "bin" / "python"
DEFAULT_MODEL = ROOT / "models" / "upper-back.tar.gz"
# Environment for the servers: quiet logs, and Sanic limits read from SANIC_* variables.
SERVER_ENV = {
    "RASA_TELEMETRY_ENABLED": "false",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "SQLALCHEMY_SILENCE_UBER_WARNING": "1",
    "PYTHONWARNINGS": "ignore",
    # Bodies above this get 413 from Sanic; a 100 kB message still fits.
    "SANIC_REQUEST_MAX_SIZE": os.environ.get("MAX_REQUEST_BYTES", "262144"),
    "SANIC_FALLBACK_ERROR_FORMAT": "json",
}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until_up(url: str, process: subprocess.Popen, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(
                f"{' '.join(process.args[:3])} exited with code {process.returncode}"
            )
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")


class BotServer:
    """The action server and the Rasa server as child processes."""

    def __init__(
        self,
        rasa_port: int = 5005,
        action_port: int = 5055,
        model: Path = DEFAULT_MODEL,
        endpoints: dict | None = None,
        credentials: dict | None = None,
        log_dir: Path | None = None,
        extra_args: tuple[str, ...] = (),
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.rasa_port = rasa_port
        self.action_port = action_port
        self.model = model
        self.endpoints = endpoints or yaml.safe_load((ROOT / "endpoints.yml").read_text())
        self.endpoints["action_endpoint"] = {"url": f"{self.action_url}/webhook"}
        self.credentials = credentials or yaml.safe_load((ROOT / "credentials.yml").read_text())
        self.log_dir = log_dir
        self.extra_args = extra_args
        # The servers' settings (ops/settings.py), over this process's environment.
        self.environ = dict(environ or {})
        self.processes: dict[str, subprocess.Popen] = {}
        self._config_dir = Path(tempfile.mkdtemp(prefix="bot-config-"))

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.rasa_port}"

    @property
    def env(self) -> dict[str, str]:
        return {**os.environ, **SERVER_ENV, **self.environ}

    @property
    def action_url(self) -> str:
        return f"http://127.0.0.1:{self.action_port}"

    @property
    def rest_url(self) -> str:
        return f"{self.url}/webhooks/rest/webhook"

    def _spawn(self, name: str, args: list[str]) -> subprocess.Popen:
        output = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            output = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - lives with the process
        process = subprocess.Popen(
            args,
            cwd=ROOT,
            env=self.env,
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
            start_new_session=True,
        )
        self.processes[name] = process
        return process

    def start_actions(self, timeout: float = 60) -> None:
        if not ACTIONS_PYTHON.exists():
            raise RuntimeError(f"{ACTIONS_PYTHON} is missing: run `make setup`")
        process = self._spawn(
            "actions",
            # rasa_sdk alone: `rasa run actions` would also load Rasa and TensorFlow.
            [
                str(ACTIONS_PYTHON),
                "-m",
                "rasa_sdk",
                "--actions",
                "actions",
                "--port",
                str(self.action_port),
            ],
        )
        wait_until_up(f"{self.action_url}/health", process, timeout)

    def rasa_args(self, command: str) -> list[str]:
        """Arguments for `rasa run`/`rasa shell`, with this server's endpoints and channels."""
        files = {"endpoints": self.endpoints, "credentials": self.credentials}
        for name, content in files.items():
            (self._config_dir / f"{name}.yml").write_text(yaml.safe_dump(content))
        return [
            RASA,
            command,
            "--model",
            str(self.model),
            "--endpoints",
            str(self._config_dir / "endpoints.yml"),
            "--credentials",
            str(self._config_dir / "credentials.yml"),
            *self.extra_args,
        ]

    def start_rasa(self, timeout: float = 180) -> None:
        args = [*self.rasa_args("run"), "--port", str(self.rasa_port)]
        process = self._spawn("rasa", args)
        wait_until_up(f"{self.url}/webhooks/rest/", process, timeout)

    def start(self) -> BotServer:
        try:
            self.start_actions()
            self.start_rasa()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGTERM)
        for process in self.processes.values():
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
        shutil.rmtree(self._config_dir, ignore_errors=True)

    def __enter__(self) -> BotServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def watch(self) -> int:
        """Block until a child exits (reported) or Ctrl-C; then stop both."""
        try:
            while True:
                for name, process in self.processes.items():
                    if process.poll() is not None:
                        print(f"The {name} server stopped (exit code {process.returncode}).")
                        return 1
                time.sleep(0.5)
        except KeyboardInterrupt:
            print("\nStopping.")
            return 0
        finally:
            self.stop()


def stop_on_sigterm(*_: object) -> None:
    raise KeyboardInterrupt


def api_args(environ: Mapping[str, str]) -> tuple[str, ...]:
    """Rasa's HTTP API stays off unless ENABLE_API is set, and then needs a secret."""
    if environ.get("ENABLE_API", "").lower() not in ("1", "true", "yes"):
        return ()
    if environ.get("RASA_API_TOKEN"):
        return ("--enable-api", "--auth-token", environ["RASA_API_TOKEN"])
    if environ.get("RASA_JWT_SECRET"):
        return ("--enable-api", "--jwt-secret", environ["RASA_JWT_SECRET"])
    raise RuntimeError("ENABLE_API is set but neither RASA_API_TOKEN nor RASA_JWT_SECRET is.")


def configured_bot(
    rasa_port: int, action_port: int, environ: Mapping[str, str]
) -> tuple[BotServer, dict | None]:
    """The bot as the environment configures it, after checking its services are up."""
    # Imported here: they pull in Rasa, which `import ops.launcher` does not need.
    from bot.channels.telegram import credentials_from_env
    from ops.services import check_services

    credentials = yaml.safe_load((ROOT / "credentials.yml").read_text())
    telegram = credentials_from_env(environ)
    credentials.update(telegram or {})
    check_services(settings.load({**os.environ, **environ}))
    bot = BotServer(
        rasa_port=rasa_port,
        action_port=action_port,
        credentials=credentials,
        extra_args=api_args(environ),
        environ=environ,
    )
    return bot, telegram


def main() -> int:
    # A service manager stops us with SIGTERM: shut both servers down as on Ctrl-C.
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--shell", action="store_true", help="chat in this terminal")
    args = parser.parse_args()
    rasa_port = int(os.environ.get("RASA_PORT", 5005))
    action_port = int(os.environ.get("ACTION_PORT", 5055))
    try:
        bot, telegram = configured_bot(rasa_port, action_port, os.environ)
    except (RuntimeError, settings.SettingsError) as error:
        print(f"Could not start the bot: {error}", file=sys.stderr)
        return 1
    try:
        bot.start_actions()
        print(f"Action server:   {bot.action_url}/webhook")
        if args.shell:
            try:
                return subprocess.call(bot.rasa_args("shell"), cwd=ROOT, env=bot.env)
            finally:
                bot.stop()
        print("Starting the Rasa server (loading the model)...")
        bot.start_rasa()
    except (RuntimeError, TimeoutError) as error:
        print(f"Could not start the bot: {error}", file=sys.stderr)
        bot.stop()
        return 1
    except KeyboardInterrupt:
        bot.stop()
        return 0
    print(f"REST channel:    http://localhost:{rasa_port}/webhooks/rest/webhook")
    print(f"Socket.IO:       http://localhost:{rasa_port}/socket.io/")
    print(f"Chat page:       http://localhost:{rasa_port}/chat/")
    if telegram:
        print(f"Telegram:        webhook at {os.environ['TELEGRAM_WEBHOOK_URL']}")
    else:
        print(
            "Telegram: off (set TELEGRAM_TOKEN, TELEGRAM_BOT_NAME, TELEGRAM_WEBHOOK_URL to enable)"
        )
    print("Ready. Press Ctrl-C to stop.", flush=True)
    return bot.watch()


if __name__ == "__main__":
    sys.exit(main())
