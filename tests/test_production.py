"""Production settings: PostgreSQL and Redis from the environment, clear start-up errors,
the HTTP API off unless secured, and no message text in INFO logs."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ThreadPoolExecutor

import psycopg2
import pytest
from helpers.servers import OUTPUT_DIR, RestClient

from bot.stores.lock_store import RedisTicketQueues
from ops.launcher import ROOT, BotServer, free_port

pytestmark = pytest.mark.services


def start_failure(**environ: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "RASA_PORT": str(free_port()), **environ}
    return subprocess.run(
        [sys.executable, "-m", "ops.launcher"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )


@pytest.mark.parametrize(
    "environ, named",
    [
        ({"DATABASE_URL": "postgresql://postgres@127.0.0.1:1/none"}, "PostgreSQL"),
        ({"REDIS_URL": "redis://127.0.0.1:1/0"}, "Redis"),
        ({"ENABLE_API": "true"}, "RASA_API_TOKEN"),
    ],
)
def test_a_missing_service_or_secret_stops_start_up_with_a_clear_error(environ, named):
    result = start_failure(**environ)
    assert result.returncode == 1
    assert "Could not start the bot" in result.stderr and named in result.stderr


@pytest.fixture(scope="module")
def production_bot(postgres_database):
    environ = {
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{postgres_database}",
        "REDIS_URL": "redis://127.0.0.1:6379/3",
        "ENABLE_API": "true",
        "RASA_API_TOKEN": "test-token",
    }
    log_dir = OUTPUT_DIR / "logs" / "production"
    with BotServer(free_port(), free_port(), env=environ, log_dir=log_dir) as bot:
        yield bot


def test_conversations_are_stored_in_postgresql_with_a_redis_lock(
    production_bot, postgres_database, knowledge
):
    client = RestClient(production_bot.rest_url)
    sender = f"pg-{uuid.uuid4()}"
    client.send(sender, "it's been hurting for 3 weeks")
    texts = client.texts(sender, "does massage help")
    advice = knowledge.advice["persistent_pain"].answer
    assert texts == [f"{knowledge.entries['massage'].answer}\n\n{advice}"]
    with psycopg2.connect(host="127.0.0.1", user="postgres", dbname=postgres_database) as db:
        cursor = db.cursor()
        cursor.execute(
            "SELECT COUNT(*) FROM events WHERE sender_id = %s AND type_name = 'user'", (sender,)
        )
        assert cursor.fetchone() == (2,)


def test_a_turn_waits_for_the_conversations_ticket_in_redis(production_bot):
    sender = f"redis-lock-{uuid.uuid4()}"
    url = production_bot.settings.redis_url
    held = asyncio.run(RedisTicketQueues(url).issue(sender, lifetime=30))
    with ThreadPoolExecutor(1) as pool:
        reply = pool.submit(RestClient(production_bot.rest_url).texts, sender, "hello")
        time.sleep(1)
        assert not reply.done()  # it waits behind the ticket this test holds
        asyncio.run(RedisTicketQueues(url).remove(sender, held))
        assert reply.result(timeout=10)


def test_the_http_api_needs_its_token(production_bot):
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(f"{production_bot.url}/status", timeout=10)
    assert refused.value.code == 401
    with urllib.request.urlopen(f"{production_bot.url}/status?token=test-token") as allowed:
        assert json.loads(allowed.read())["model_file"]


def test_the_http_api_is_off_by_default(bot):
    assert bot.settings.api is None
    with pytest.raises(urllib.error.HTTPError) as missing:
        urllib.request.urlopen(f"{bot.url}/status", timeout=10)
    assert missing.value.code == 404


def test_info_logs_never_contain_what_users_wrote(bot, rest):
    secret = f"zebra{uuid.uuid4().hex} my upper back hurts after lifting"
    assert rest.texts(f"log-{uuid.uuid4()}", secret)
    logs = "".join(path.read_text(errors="replace") for path in bot.log_dir.glob("*.log"))
    assert "rasa.core" in logs  # the logs are there, and they are INFO logs
    assert secret.split()[0] not in logs
