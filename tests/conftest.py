"""Shared fixtures: the trained bot, started on free ports like a user would reach it.

Helpers (clients, servers, scratch databases, Chromium) live in tests/helpers/.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import yaml
from helpers.browser import launch_chromium
from helpers.databases import scratch_database_url, scratch_postgres_database
from helpers.servers import OUTPUT_DIR, RestClient, sqlite_bot
from playwright.sync_api import sync_playwright

from bot import ROOT
from bot.knowledge import KnowledgeBase, knowledge_base
from ops.launcher import BotServer


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


@pytest.fixture(scope="session")
def bot(tmp_path_factory) -> Iterator[BotServer]:
    """The bot most tests share."""
    db = tmp_path_factory.mktemp("trackers") / "conversations.db"
    with sqlite_bot(db, OUTPUT_DIR / "logs") as server:
        yield server


@pytest.fixture(scope="session")
def rest(bot) -> RestClient:
    return RestClient(bot.rest_url)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)])
def store_database_url(request, tmp_path) -> Iterator[str]:
    """An empty database for a tracker store: a SQLite file, then one on PostgreSQL."""
    with scratch_database_url(request.param, tmp_path) as url:
        yield url


@pytest.fixture(scope="module")
def postgres_database() -> Iterator[str]:
    """A fresh database on the local PostgreSQL server, dropped after the module."""
    with scratch_postgres_database() as name:
        yield name


def pytest_configure(config) -> None:
    OUTPUT_DIR.mkdir(parents=True, exist_ok=True)


SLOW_MARKERS = ("bot", "browser", "services", "model")


@pytest.hookimpl(tryfirst=True)  # before `-m` selects by marker
def pytest_collection_modifyitems(items) -> None:
    """A test that uses the shared bot is a `bot` test; one with no slow marker is `fast`."""
    for item in items:
        if "bot" in item.fixturenames:
            item.add_marker(pytest.mark.bot)
        if not any(item.get_closest_marker(name) for name in SLOW_MARKERS):
            item.add_marker(pytest.mark.fast)


@pytest.fixture(scope="module")
def browser():
    """Debian's Chromium, for one test module's pages."""
    with sync_playwright() as playwright:
        browser = launch_chromium(playwright)
        yield browser
        browser.close()
