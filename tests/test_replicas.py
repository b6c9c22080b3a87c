"""Two bot replicas on one PostgreSQL tracker store and one Redis lock store, behind nginx,
started the way `make cluster` starts them (ops/cluster.py).

Turns of one conversation may reach either replica, even at the same moment: each must be
answered once, in order, with the conversation's context, and stored completely.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers.conversations import OPENINGS, entry_questions, expected_texts, stored_dialogue
from helpers.servers import OUTPUT_DIR, RestClient
from helpers.socketio_chat import ChatSession

from ops.cluster import Cluster
from ops.launcher import ROOT, free_port

pytestmark = pytest.mark.services

LIFTING_QUESTION = "why does my upper back hurt after lifting"
CONVERSATIONS = 20
BURST = 8


@pytest.fixture(scope="module")
def cluster(postgres_database):
    environ = {
        "DATABASE_URL": f"postgresql://postgres@127.0.0.1:5432/{postgres_database}",
        "REDIS_URL": "redis://127.0.0.1:6379/5",
    }
    with Cluster(2, environ, port=free_port(), log_dir=OUTPUT_DIR / "logs" / "replicas") as started:
        yield started


def upstreams_since(cluster: Cluster, offset: int, request: str) -> list[str]:
    """The replicas nginx sent requests to whose request line starts with `request` (a regex),
    from nginx's access log after `offset`."""
    with open(cluster.run_dir / "access.log") as log:
        log.seek(offset)
        return re.findall(rf'"{request}[^"]*" \d+ upstream=(\S+)', log.read())


def log_size(cluster: Cluster) -> int:
    return (cluster.run_dir / "access.log").stat().st_size


def texts(messages: list[dict]) -> list[str]:
    return [m["text"] for m in messages]


def test_cluster_needs_postgresql_and_redis():
    environ = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    result = subprocess.run(
        [sys.executable, "-m", "ops.cluster", "--replicas", "2"],
        cwd=ROOT,
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert "DATABASE_URL" in result.stderr and "REDIS_URL" in result.stderr


def test_conversations_alternating_between_replicas_keep_their_context(cluster, knowledge, domain):
    replicas = [RestClient(bot.rest_url) for bot in cluster.bots]
    questions = entry_questions()

    def converse(number: int) -> tuple[str, list[tuple[str, list[str], list[str]]]]:
        """One conversation, turn i on replica i % 2: (message, received, expected) per turn."""
        sender = f"replicas-{number}-{uuid.uuid4()}"
        opening, advice, closing = OPENINGS[number % len(OPENINGS)]
        turns = [(opening, ["utter_disclaimer", advice])]
        for turn in range(1, 5):
            question, entry = questions[(number * 4 + turn) % len(questions)]
            then = knowledge.entries[entry].then_response  # the warning signs after "see a doctor"
            turns.append((question, [entry + closing, *([then] if then else [])]))
        results = []
        for turn, (message, steps) in enumerate(turns):
            received = texts(replicas[turn % 2].send(sender, message))
            results.append((message, received, expected_texts(steps, knowledge, domain)))
        return sender, results

    with ThreadPoolExecutor(CONVERSATIONS) as pool:
        conversations = list(pool.map(converse, range(CONVERSATIONS)))

    for sender, results in conversations:
        for message, received, expected in results:
            assert received == expected, f"{sender}: {message!r}"
        dialogue = []
        for message, received, _ in results:
            dialogue += [("user", message)] + [("bot", text) for text in received]
        assert stored_dialogue(cluster.settings.database_url, sender) == dialogue, sender


def test_a_burst_on_one_conversation_is_answered_turn_by_turn(cluster, knowledge, domain):
    client = RestClient(cluster.rest_url)
    sender = f"burst-{uuid.uuid4()}"
    opening, advice, closing = OPENINGS[0]
    client.send(sender, opening)
    burst = entry_questions()[:BURST]
    log_start = log_size(cluster)

    with ThreadPoolExecutor(BURST) as pool:
        replies = list(pool.map(lambda pair: texts(client.send(sender, pair[0])), burst))

    expected = {
        question: expected_texts([entry + closing], knowledge, domain) for question, entry in burst
    }
    for (question, _), received in zip(burst, replies, strict=True):
        assert received == expected[question], question
    # The Redis lock ran the turns one at a time: each stored question is followed by its
    # own answer, before the next question.
    dialogue = stored_dialogue(cluster.settings.database_url, sender)[3:]  # after the opening turn
    stored_questions = [text for kind, text in dialogue if kind == "user"]
    assert sorted(stored_questions) == sorted(expected)
    in_order = []
    for question in stored_questions:
        in_order += [("user", question)] + [("bot", text) for text in expected[question]]
    assert dialogue == in_order
    # nginx spread the burst over both replicas.
    upstreams = upstreams_since(cluster, log_start, "POST /webhooks/rest/webhook ")
    assert len(upstreams) == BURST
    assert set(upstreams) == {f"127.0.0.1:{bot.rasa_port}" for bot in cluster.bots}


def test_a_socketio_session_stays_on_one_replica(cluster, knowledge):
    log_start = log_size(cluster)
    # Long polling: every poll is a new HTTP request, so a session without stickiness breaks.
    session = ChatSession(cluster.url)
    try:
        session.start()
        session.say(LIFTING_QUESTION)
        session.wait_for_text(knowledge.entries["improper_lifting"].answer)
        question, entry = entry_questions()[0]
        session.say(question)
        session.wait_for_text(knowledge.entries[entry].answer)
    finally:
        session.close()
    upstreams = upstreams_since(cluster, log_start, r"\w+ /socket\.io/")
    assert len(upstreams) > 3 and len(set(upstreams)) == 1


def test_nginx_has_the_replicas_body_size_limit(cluster):
    client = RestClient(cluster.rest_url)
    assert client.send(f"size-{uuid.uuid4()}", "a" * 100_000)  # a long message is answered
    body = json.dumps({"sender": f"size-{uuid.uuid4()}", "message": "a" * 300_000})
    status, _ = client.post(body.encode())
    assert status == 413
