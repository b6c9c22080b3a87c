"""PostgreSQL going away while the bot runs (issue 9, item 3): the database is the truth.

Rasa wraps every tracker store in a FailSafeTrackerStore that answers from memory when the
database fails: users got normal answers, their turns were never stored and their context
was reset. Here a private PostgreSQL server is stopped for a while and started again.
During the outage every message gets an immediate reply that does not pretend to know the
conversation (the polite "can't answer", or the emergency reply for a red flag) and nothing
is stored; afterwards the conversation continues with its context.
"""

from __future__ import annotations

import json
import time
import uuid

import pytest
from helpers.conversations import stored_dialogue
from helpers.databases import PrivatePostgres
from helpers.servers import OUTPUT_DIR, RestClient

from ops.launcher import BotServer, free_port

pytestmark = pytest.mark.services

PROMISED_SECONDS = 5
OUTAGE_MESSAGES = [
    "does massage help",
    "my back hurts and i have chest pain",
    "how do i prevent it",
    "hello",
]


def timed_texts(client: RestClient, sender: str, text: str) -> tuple[list[str], float]:
    """The reply's texts (any HTTP error fails the test) and how long it took."""
    started = time.monotonic()
    status, body = client.post(json.dumps({"sender": sender, "message": text}).encode())
    assert status == 200, f"HTTP {status} for {text!r}"
    return [m["text"] for m in json.loads(body)], time.monotonic() - started


def test_a_database_outage_stores_nothing_and_the_conversation_keeps_its_context(
    tmp_path, knowledge, responses
):
    with PrivatePostgres(free_port()) as postgres:
        environ = {"DATABASE_URL": postgres.url, "LOCK_FILE": str(tmp_path / "locks.db")}
        logs = OUTPUT_DIR / "logs" / "database-outage"
        with BotServer(free_port(), free_port(), env=environ, log_dir=logs) as bot:
            client = RestClient(bot.rest_url)
            sender, newcomer = f"outage-{uuid.uuid4()}", f"outage-new-{uuid.uuid4()}"
            before = client.texts(sender, "it's been hurting for 3 weeks")
            stored_before = stored_dialogue(postgres.url, sender)

            postgres.stop()
            outage_started = time.monotonic()
            try:
                while time.monotonic() - outage_started < 8:
                    for who in (sender, newcomer):
                        for message in OUTAGE_MESSAGES:
                            texts, seconds = timed_texts(client, who, message)
                            assert seconds < PROMISED_SECONDS, (who, message)
                            assert texts in (
                                [responses["utter_unavailable"]],
                                [responses["utter_emergency"]],
                            ), (who, message, texts)
            finally:
                postgres.start()

            after = client.texts(sender, "does massage help")
            assert bot.supervisor.process("rasa").poll() is None

        advice = knowledge.advice["persistent_pain"].answer
        # No disclaimer again (it was given before the outage) and the persistence is kept.
        assert after == [f"{knowledge.entries['massage'].answer}\n\n{advice}"]
        # Only the two turns answered normally are stored, each whole.
        dialogue = stored_dialogue(postgres.url, sender)
        assert dialogue == stored_before + [("user", "does massage help")] + [
            ("bot", text) for text in after
        ]
        assert stored_before == [("user", "it's been hurting for 3 weeks")] + [
            ("bot", text) for text in before
        ]
        assert stored_dialogue(postgres.url, newcomer) == []
