"""Faults: the action server down or slow, and the Rasa server restarting."""

from __future__ import annotations

import os
import signal
import subprocess
import time
import uuid

import pytest
import redis
from helpers.servers import OUTPUT_DIR, RestClient, sqlite_bot

from ops.launcher import BotServer, free_port

pytestmark = pytest.mark.bot

# The channel's reply deadline is 4.5 s; the issue promises an answer within 5 s.
PROMISED_SECONDS = 5


def start_bot(db_path) -> BotServer:
    return sqlite_bot(db_path, OUTPUT_DIR / "logs" / "faults").start()


@pytest.fixture
def own_bot(tmp_path):
    bot = start_bot(tmp_path / "conversations.db")
    yield bot
    bot.stop()


def timed_texts(client: RestClient, sender: str, text: str) -> tuple[list[str], float]:
    started = time.monotonic()
    texts = client.texts(sender, text)
    return texts, time.monotonic() - started


def test_action_server_down_gets_a_polite_reply_and_red_flags_still_work(own_bot, responses):
    client = RestClient(own_bot.rest_url)
    actions = own_bot.supervisor.process("actions")
    os.killpg(actions.pid, signal.SIGTERM)
    actions.wait(timeout=15)

    texts, seconds = timed_texts(client, f"down-{uuid.uuid4()}", "does massage help")
    assert texts == [responses["utter_unavailable"]]
    assert seconds < PROMISED_SECONDS

    texts, _ = timed_texts(client, f"down-{uuid.uuid4()}", "my back hurts and i have chest pain")
    assert texts == [responses["utter_emergency"]]


def test_the_fallback_keeps_the_doctor_advice_once_pain_is_persistent(
    own_bot, responses, knowledge
):
    client = RestClient(own_bot.rest_url)
    advice = knowledge.advice["persistent_pain"].answer
    said_before = f"before-{uuid.uuid4()}"
    client.send(said_before, "it's been hurting for 3 weeks")
    actions = own_bot.supervisor.process("actions")
    os.killpg(actions.pid, signal.SIGTERM)
    actions.wait(timeout=15)

    # Known from the stored conversation, and from the unanswered message itself.
    # Rasa's channels send each paragraph of a response as its own message.
    fallback = [responses["utter_unavailable"], advice]
    assert client.texts(said_before, "does massage help") == fallback
    said_now = client.texts(
        f"now-{uuid.uuid4()}", "my upper back has ached for a month, does massage help"
    )
    assert said_now == fallback


def test_slow_action_server_gets_a_polite_reply_within_five_seconds(own_bot, responses):
    client = RestClient(own_bot.rest_url)
    actions = own_bot.supervisor.process("actions")
    os.killpg(actions.pid, signal.SIGSTOP)  # alive but never answering
    try:
        texts, seconds = timed_texts(client, f"slow-{uuid.uuid4()}", "should i use ice or heat")
        assert texts == [responses["utter_unavailable"]]
        assert seconds < PROMISED_SECONDS
        texts, seconds = timed_texts(client, f"slow-{uuid.uuid4()}", "i can't breathe")
        assert texts == [responses["utter_emergency"]]
    finally:
        os.killpg(actions.pid, signal.SIGCONT)


def test_a_restart_mid_conversation_loses_no_turn(tmp_path, knowledge):
    db = tmp_path / "conversations.db"
    sender = f"restart-{uuid.uuid4()}"
    bot = start_bot(db)
    try:
        RestClient(bot.rest_url).send(sender, "it's been hurting for 3 weeks")
    finally:
        bot.stop()
    bot = start_bot(db)
    try:
        texts = RestClient(bot.rest_url).texts(sender, "does massage help")
    finally:
        bot.stop()
    advice = knowledge.advice["persistent_pain"].answer
    # No disclaimer again (it was given before the restart) and the persistence is kept.
    assert texts == [f"{knowledge.entries['massage'].answer}\n\n{advice}"]


def start_redis(port: int, directory) -> subprocess.Popen:
    """A Redis of this test's own, once it answers."""
    server = subprocess.Popen(
        ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no"],
        cwd=directory,
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 15
    while True:
        try:
            redis.Redis(port=port, socket_timeout=1).ping()
            return server
        except redis.ConnectionError:
            if time.monotonic() > deadline:
                server.kill()
                raise
            time.sleep(0.1)


def test_redis_going_away_fails_fast_and_recovers(tmp_path, knowledge, responses):
    port = free_port()
    redis_server = start_redis(port, tmp_path)
    redis_url = f"redis://127.0.0.1:{port}/0"
    db = tmp_path / "conversations.db"
    with sqlite_bot(db, OUTPUT_DIR / "logs" / "faults-redis", REDIS_URL=redis_url) as bot:
        client = RestClient(bot.rest_url)
        sender = f"redis-{uuid.uuid4()}"
        assert client.texts(sender, "hello")
        redis_server.terminate()
        redis_server.wait(timeout=15)
        texts, seconds = timed_texts(client, sender, "does massage help")
        assert texts == [responses["utter_unavailable"]]
        assert seconds < PROMISED_SECONDS
        redis_server = start_redis(port, tmp_path)
        try:
            texts, _ = timed_texts(client, sender, "does massage help")
        finally:
            redis_server.terminate()
    disclaimer = responses["utter_disclaimer"]
    assert texts == [disclaimer, knowledge.entries["massage"].answer]
