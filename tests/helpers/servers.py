"""The bot as tests start it (free ports, its own SQLite files) and a REST client for it."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

from bot import ROOT
from ops.launcher import BotServer, free_port

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


def sqlite_bot(db: Path, log_dir: Path, **environ: str) -> BotServer:
    """The trained bot and its action server on free ports, with its own SQLite file (and its
    own lock file beside it), and any other settings in `environ`."""
    return BotServer(
        rasa_port=free_port(),
        action_port=free_port(),
        log_dir=log_dir,
        environ={
            "DATABASE_URL": f"sqlite:///{db}",
            "LOCK_FILE": str(db.with_name(f"{db.stem}-locks.db")),
            **environ,
        },
    )


def database_url(bot: BotServer) -> str:
    """Where the bot stores its conversations."""
    return bot.environ["DATABASE_URL"]
