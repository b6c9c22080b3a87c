"""Shared fixtures: the trained bot, started on free ports like a user would reach it."""

from __future__ import annotations

import json
import urllib.request
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2
import pytest
import yaml

from bot.knowledge import KnowledgeBase, knowledge_base
from bot.serve import ROOT, BotServer, free_port

OUTPUT_DIR = ROOT / "tests" / "output"


class RestClient:
    """Talks to the bot through the REST channel, as a web or app client would."""

    def __init__(self, url: str) -> None:
        self.url = url

    def send(self, sender: str, text: str, timeout: float = 30) -> list[dict]:
        body = json.dumps({"sender": sender, "message": text}).encode()
        request = urllib.request.Request(
            self.url, body, headers={"Content-Type": "application/json"}
        )
        with urllib.request.urlopen(request, timeout=timeout) as response:
            return json.loads(response.read())

    def texts(self, sender: str, text: str) -> list[str]:
        return [m["text"] for m in self.send(sender, text) if "text" in m]


@pytest.fixture(scope="session")
def knowledge() -> KnowledgeBase:
    return knowledge_base()


@pytest.fixture(scope="session")
def domain() -> dict:
    return yaml.safe_load((ROOT / "domain.yml").read_text())


@pytest.fixture(scope="session")
def responses(domain) -> dict[str, str]:
    """Domain response name -> its (only) text."""
    return {name: variants[0]["text"] for name, variants in domain["responses"].items()}


def sqlite_bot(db: Path, log_dir: Path) -> BotServer:
    """The trained bot and its action server on free ports, with its own SQLite file."""
    endpoints = yaml.safe_load((ROOT / "endpoints.yml").read_text())
    endpoints["tracker_store"]["db"] = str(db)
    return BotServer(
        rasa_port=free_port(), action_port=free_port(), endpoints=endpoints, log_dir=log_dir
    )


@pytest.fixture(scope="session")
def bot(tmp_path_factory) -> BotServer:
    """The bot most tests share."""
    db = tmp_path_factory.mktemp("trackers") / "conversations.db"
    with sqlite_bot(db, OUTPUT_DIR / "logs") as server:
        yield server


@pytest.fixture(scope="session")
def rest(bot) -> RestClient:
    return RestClient(bot.rest_url)


@pytest.fixture(scope="module")
def postgres_database() -> Iterator[str]:
    """A fresh database on the local PostgreSQL server, dropped after the module."""
    name = f"bot_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    admin.autocommit = True
    admin.cursor().execute(f"CREATE DATABASE {name}")
    yield name
    admin.cursor().execute(f"DROP DATABASE {name} WITH (FORCE)")
    admin.close()


def pytest_configure(config) -> None:
    Path(OUTPUT_DIR).mkdir(parents=True, exist_ok=True)
