"""Messages sent at once to one conversation (issue 9, item 4): on the embedded default, with
no Redis, every one is answered with its own answer and stored, one turn after another, also
when several server processes (Sanic workers) share the conversation.

Rasa's in-memory lock looked at its queue once a second, so in bursts of 8, 12 and 20 messages
1, 5 and 13 missed the reply deadline: they got "can't answer" and were never stored.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from helpers.conversations import OPENINGS, entry_questions, expected_texts, stored_dialogue
from helpers.servers import OUTPUT_DIR, RestClient, sqlite_bot


def ticket_holders(lock_file: Path, stop: threading.Event) -> set[int]:
    """The processes seen holding or waiting for a ticket in the lock file until `stop`."""
    seen: set[int] = set()
    while not stop.is_set():
        if lock_file.exists():
            with (
                contextlib.closing(sqlite3.connect(lock_file, timeout=5)) as connection,
                contextlib.suppress(sqlite3.OperationalError),  # no table yet
            ):
                seen.update(pid for (pid,) in connection.execute("SELECT pid FROM tickets"))
        time.sleep(0.005)
    return seen


def send_burst(
    client: RestClient, sender: str, questions: list[str], spacing: float = 0
) -> list[list[str]]:
    """All `questions` at once, or `spacing` seconds apart, each on its own connection."""
    with ThreadPoolExecutor(len(questions)) as pool:
        replies = []
        for question in questions:
            replies.append(pool.submit(client.send, sender, question))
            time.sleep(spacing)
        return [[m["text"] for m in reply.result()] for reply in replies]


def check_burst(
    client: RestClient, db_url: str, size: int, knowledge, domain, spacing: float = 0
) -> None:
    sender = f"burst-{size}-{uuid.uuid4()}"
    opening, _, closing = OPENINGS[0]
    client.send(sender, opening)
    questions = entry_questions()
    burst = [questions[i % len(questions)] for i in range(size)]
    expected = {q: expected_texts([entry + closing], knowledge, domain) for q, entry in burst}

    replies = send_burst(client, sender, [question for question, _ in burst], spacing)

    for (question, _), received in zip(burst, replies, strict=True):
        assert received == expected[question], question
    # One turn at a time: each stored question is followed by its own answer.
    dialogue = stored_dialogue(db_url, sender)[3:]  # after the opening turn
    stored_questions = [text for kind, text in dialogue if kind == "user"]
    assert sorted(stored_questions) == sorted(question for question, _ in burst)
    in_turns = []
    for question in stored_questions:
        in_turns += [("user", question)] + [("bot", text) for text in expected[question]]
    assert dialogue == in_turns


@pytest.mark.parametrize("size", [8, 12, 20])
def test_a_burst_on_one_conversation_is_answered_and_stored_turn_by_turn(
    bot, rest, size, knowledge, domain
):
    check_burst(rest, bot.settings.database_url, size, knowledge, domain)


MAX_BURSTS = 6


@pytest.mark.bot
def test_two_server_processes_on_the_embedded_default_take_turns_too(tmp_path, knowledge, domain):
    db = tmp_path / "conversations.db"
    with sqlite_bot(db, OUTPUT_DIR / "logs" / "workers", SANIC_WORKERS="2") as bot:
        # A worker that is waiting accepts every connection already queued, so messages that
        # arrive in the same instant all go to one worker: these arrive 50 ms apart, still
        # while the earlier ones wait their turn. The second worker may also still be loading
        # the model, so bursts go on (a bounded number) until both have drawn tickets.
        holders: set[int] = set()
        for _ in range(MAX_BURSTS):
            stop = threading.Event()
            with ThreadPoolExecutor(1) as pool:
                watching = pool.submit(ticket_holders, bot.settings.lock_file, stop)
                try:
                    check_burst(
                        RestClient(bot.rest_url), bot.settings.database_url, 20, knowledge,
                        domain, spacing=0.05,
                    )  # fmt: skip
                finally:
                    stop.set()
            holders |= watching.result()
            if len(holders) == 2:
                break
        assert len(holders) == 2  # both workers drew tickets for the conversations
