"""The bot as tests start it (free ports, its own SQLite file) and a REST client for it."""

from __future__ import annotations

import json
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path

from ops.launcher import BotServer, free_port
from ops.settings import MODEL_PATH, ROOT
from ops.supervisor import answers

OUTPUT_DIR = ROOT / "tests" / "output"


class RestClient:
    """Talks to the bot through the REST channel, as a web or app client would."""

    def __init__(self, url: str) -> None:
        self.url = url

    def post(self, body: bytes, timeout: float = 30) -> tuple[int, bytes]:
        """The HTTP status and body for a raw request body, errors included."""
        request = urllib.request.Request(
            self.url, body, headers={"Content-Type": "application/json"}
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as response:
                return response.status, response.read()
        except urllib.error.HTTPError as error:
            return error.code, error.read()

    def send(self, sender: str, text: str, timeout: float = 30) -> list[dict]:
        status, body = self.post(json.dumps({"sender": sender, "message": text}).encode(), timeout)
        assert status == 200, f"HTTP {status}: {body[:300]!r}"
        return json.loads(body)

    def texts(self, sender: str, text: str) -> list[str]:
        return [m["text"] for m in self.send(sender, text) if "text" in m]


def sqlite_bot(
    db: Path, log_dir: Path, rasa_port: int | None = None, model: Path = MODEL_PATH, **env: str
) -> BotServer:
    """The trained bot (or `model`) and its action server on free ports, with its own
    SQLite file."""
    return BotServer(
        rasa_port=rasa_port or free_port(),
        action_port=free_port(),
        model=model,
        env={"DATABASE_URL": f"sqlite:///{db}", "LOCK_FILE": str(db.with_suffix(".locks")), **env},
        log_dir=log_dir,
    )


def wait_until_up(url: str, process: subprocess.Popen, timeout: float) -> None:
    """Return once `url` answers; fail if `process` exits first or time runs out."""
    deadline = time.monotonic() + timeout
    while not answers(url):
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[:3]} exited with code {process.returncode}")
        if time.monotonic() > deadline:
            raise TimeoutError(f"{url} did not answer within {timeout:.0f} s")
        time.sleep(0.2)
