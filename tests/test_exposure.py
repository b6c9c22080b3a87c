"""What the servers expose: loopback by default, a token for the action server, no banner."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from helpers.servers import OUTPUT_DIR, RestClient

from ops.launcher import BotServer, free_port
from rasa_sdk_plugins import TOKEN_HEADER, trusted

TOKEN = "action-server-test-token"


def listening_addresses(port: int) -> set[str]:
    """The local addresses of TCP sockets listening on `port` (from /proc/net/tcp{,6})."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, local_port = local.split(":")
            if state == "0A" and int(local_port, 16) == port:  # 0A: LISTEN
                found.add(address)
    return found


def status_of(request: urllib.request.Request) -> int:
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


@pytest.mark.bot
def test_both_servers_listen_on_loopback_only(bot):
    loopback = "0100007F"  # 127.0.0.1 as /proc/net/tcp writes it
    assert listening_addresses(bot.rasa_port) == {loopback}
    assert listening_addresses(bot.action_port) == {loopback}


@pytest.mark.bot
def test_the_root_page_does_not_announce_the_rasa_version(bot):
    with urllib.request.urlopen(f"{bot.url}/", timeout=10) as response:
        body = response.read().decode()
    assert "rasa" not in body.lower() and "3.6" not in body
    assert json.loads(body) == {"status": "ok"}


@pytest.fixture(scope="module")
def token_bot(tmp_path_factory):
    db = tmp_path_factory.mktemp("token") / "conversations.db"
    env = {"DATABASE_URL": f"sqlite:///{db}", "ACTION_SERVER_TOKEN": TOKEN}
    with BotServer(free_port(), free_port(), env=env, log_dir=OUTPUT_DIR / "logs" / "token") as bot:
        yield bot


@pytest.mark.bot
def test_with_a_token_the_action_server_runs_nothing_for_callers_without_it(token_bot):
    body = json.dumps({"next_action": "action_answer_health_question", "tracker": {}}).encode()
    webhook = f"{token_bot.action_url}/webhook"
    for headers in ({}, {TOKEN_HEADER: "wrong"}):
        request = urllib.request.Request(webhook, body, headers=headers)
        assert status_of(request) == 403
    request = urllib.request.Request(
        f"{token_bot.action_url}/actions", headers={TOKEN_HEADER: TOKEN}
    )
    assert status_of(request) == 200


@pytest.mark.bot
def test_with_a_token_rasa_still_reaches_the_action_server(token_bot, knowledge):
    texts = RestClient(token_bot.rest_url).texts("token-user", "does massage help")
    assert knowledge.entries["massage"].answer in texts


@pytest.mark.parametrize(
    "path, caller, sent, token, allowed",
    [
        ("/webhook", "127.0.0.1", "", None, True),
        ("/webhook", "::1", "", None, True),
        ("/webhook", "10.1.2.3", "", None, False),
        ("/webhook", "203.0.113.9", "", None, False),
        ("/webhook", "203.0.113.9", TOKEN, TOKEN, True),
        ("/webhook", "127.0.0.1", "", TOKEN, False),  # with a token, loopback needs it too
        ("/webhook", "127.0.0.1", "wrong", TOKEN, False),
        ("/health", "203.0.113.9", "", None, True),
    ],
)
def test_who_the_action_server_trusts(path, caller, sent, token, allowed):
    assert trusted(path, caller, sent, token) is allowed
