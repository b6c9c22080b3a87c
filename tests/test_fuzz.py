"""Property-based fuzzing of every field a client sends, over REST and socket.io, on SQLite
and on PostgreSQL: no server exit, no 5xx, no message left unanswered, and every stored
turn equal to what the client was answered.

Hypothesis draws batches of conversations; each batch is sent concurrently, as real
clients would, so 5,000 messages per channel and database take minutes, not hours.
"""

from __future__ import annotations

import json
import os
import queue
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import pytest
import socketio
import sqlalchemy as sa
from helpers.databases import scratch_postgres_database
from helpers.servers import OUTPUT_DIR, RestClient, sqlite_bot
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.channels.webchat import REJECTED_EVENT
from ops.launcher import BotServer, free_port
from ops.settings import current

# FUZZ_MESSAGES=300 for a quick run while editing; the suite runs 5,000.
MESSAGES = int(os.environ.get("FUZZ_MESSAGES", 5_000))
pytestmark = pytest.mark.bot
BATCH_CONVERSATIONS = 25
CONCURRENCY = 16
REPLY_TIMEOUT = 30
# A socket.io conversation ends with this; its reply comes after every earlier reply, as
# the turns of one conversation run one at a time.
CLOSING_MESSAGE = "/greet"
STORE_WAIT_SECONDS = 10
MAX_REQUEST_BYTES = current().limits.max_request_bytes

surrogates = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=4)
controls = st.text(st.characters(max_codepoint=0x1F), max_size=10)
words = st.sampled_from(
    ["does massage help", "ice or heat?", "i have chest pain", "it's been 3 weeks", "hi",
     "/restart", '/ask_relief{"topic": "massage"}', "/report_red_flag", "Боль в спине", "😩"]
)  # fmt: skip
json_junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=6,
)
text_values = st.one_of(
    words,
    st.text(max_size=200),
    st.builds(lambda a, b, c: a + b + c, words, surrogates, controls),
    st.builds(lambda n: "a" * n, st.integers(990, 1200)),  # around the length limit
    st.just("a\x00b"),
)
messages = st.one_of(text_values, text_values, text_values, json_junk)
hostile_senders = st.one_of(
    st.text(max_size=40), surrogates, st.builds(lambda s: f"a{s}", surrogates),
    st.just("a\x00b"), st.integers(), st.none(), json_junk, st.just("x" * 300),
)  # fmt: skip
metadata = st.one_of(
    st.none(), st.just({"locale": "en-GB"}), st.just({"time_zone": "Europe/London"}),
    json_junk, st.dictionaries(st.text(max_size=8), text_values, max_size=2),
)  # fmt: skip


@dataclass
class Conversation:
    """What one client sends, and what it was answered; `sender` is ours when unique."""

    sender: object
    messages: list
    metadata: object
    unique: bool
    replies: list[str] = field(default_factory=list)
    complete: bool = True


conversations = st.builds(
    Conversation,
    sender=st.one_of(st.builds(lambda: f"fuzz-{uuid.uuid4().hex}"), hostile_senders),
    messages=st.lists(messages, min_size=1, max_size=3),
    metadata=metadata,
    unique=st.just(False),
)
batches = st.lists(conversations, min_size=BATCH_CONVERSATIONS, max_size=BATCH_CONVERSATIONS)
FUZZ_SETTINGS = settings(
    # Conversations average 2 messages; 25% more batches make sure MESSAGES go out.
    max_examples=MESSAGES * 5 // (BATCH_CONVERSATIONS * 2 * 4),
    deadline=None,
    database=None,
    suppress_health_check=list(HealthCheck),
)


@pytest.fixture(
    scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.services)]
)
def fuzz_bot(request, tmp_path_factory):
    logs = OUTPUT_DIR / "logs" / f"fuzz-{request.param}"
    if request.param == "sqlite":
        with sqlite_bot(tmp_path_factory.mktemp("fuzz") / "conversations.db", logs) as bot:
            yield bot
        return
    with scratch_postgres_database("fuzz") as name:
        url = f"postgresql://postgres@127.0.0.1:5432/{name}"
        with BotServer(free_port(), free_port(), env={"DATABASE_URL": url}, log_dir=logs) as bot:
            yield bot


def mark_unique(batch: list[Conversation]) -> None:
    """Our own fuzz-... senders are unique: their stored turns can be checked exactly."""
    for conversation in batch:
        sender = conversation.sender
        conversation.unique = isinstance(sender, str) and sender.startswith("fuzz-")


def stored_bot_texts(bot: BotServer, senders: list[str]) -> dict[str, list[str]]:
    stored: dict[str, list[str]] = {sender: [] for sender in senders}
    if not senders:
        return stored
    engine = sa.create_engine(bot.settings.database_url)
    query = sa.text(
        "SELECT sender_id, data FROM events WHERE type_name = 'bot' AND sender_id IN :senders "
        "ORDER BY id"
    ).bindparams(sa.bindparam("senders", expanding=True))
    with engine.connect() as connection:
        for sender, data in connection.execute(query, {"senders": senders}):
            stored[sender].append(json.loads(data)["text"])
    engine.dispose()
    return stored


def paragraphs(texts: list[str]) -> list[str]:
    # Channels send each paragraph of a reply as its own message.
    return "\n\n".join(texts).split("\n\n")


def check_batch(bot: BotServer, batch: list[Conversation]) -> None:
    assert bot.supervisor.process("rasa").poll() is None, "the Rasa server exited"
    checked = {c.sender: paragraphs(c.replies) for c in batch if c.unique and c.complete}
    # socket.io sends a turn's replies before the turn is stored: give the last one time.
    deadline = time.monotonic() + STORE_WAIT_SECONDS
    while True:
        found = stored_bot_texts(bot, list(checked))
        stored = {sender: paragraphs(texts) for sender, texts in found.items()}
        if stored == checked or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    for sender, answered in checked.items():
        assert stored[sender] == answered, f"{sender}: stored {stored[sender]}, sent {answered}"


def rest_conversation(client: RestClient, conversation: Conversation) -> None:
    for message in conversation.messages:
        payload = {"sender": conversation.sender, "message": message}
        if conversation.metadata is not None:
            payload["metadata"] = conversation.metadata
        body = json.dumps(payload).encode()  # lone surrogates travel as \ud800 escapes
        status, content = client.post(body, timeout=REPLY_TIMEOUT)  # a hang fails here
        assert status < 500, content[:300]
        if len(body) > MAX_REQUEST_BYTES:
            assert status == 413
        if status != 200:
            assert status == 413 or json.loads(content)["error"]
            conversation.complete = False
            continue
        replies = json.loads(content)
        assert replies and all(r.get("text") for r in replies), replies
        conversation.replies += [r["text"] for r in replies]


def fuzz(bot: BotServer, run_conversation) -> int:
    """Run hypothesis' batches through `run_conversation`; returns the messages sent."""
    sent = []

    @FUZZ_SETTINGS
    @given(batch=batches)
    def run(batch: list[Conversation]) -> None:
        mark_unique(batch)
        with ThreadPoolExecutor(CONCURRENCY) as pool:
            list(pool.map(run_conversation, batch))
        check_batch(bot, batch)
        sent.append(sum(len(c.messages) for c in batch))

    run()
    return sum(sent)


def test_rest_fuzz(fuzz_bot):
    client = RestClient(fuzz_bot.rest_url)
    assert fuzz(fuzz_bot, lambda c: rest_conversation(client, c)) >= MESSAGES


CONNECT_ATTEMPTS = 3


class SocketClient:
    def __init__(self, url: str) -> None:
        self.events: queue.Queue[tuple[str, object]] = queue.Queue()
        self.client = socketio.Client(reconnection=False)
        for name in ("session_confirm", "bot_uttered", REJECTED_EVENT):
            self.client.on(name, lambda data, name=name: self.events.put((name, data)))
        # As a browser's socket.io client does, retry a handshake that failed: on a loaded
        # machine one can time out while the server is busy, and the server stays up.
        for attempt in range(CONNECT_ATTEMPTS):
            try:
                self.client.connect(url, transports=["polling"], wait_timeout=REPLY_TIMEOUT)
                return
            except socketio.exceptions.ConnectionError:
                if attempt == CONNECT_ATTEMPTS - 1:
                    raise
                time.sleep(1)

    def next_event(self, timeout: float) -> tuple[str, object] | None:
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None

    def close(self) -> None:
        self.client.eio.disconnect(abort=True)


def record(conversation: Conversation, event: tuple[str, object]) -> None:
    name, data = event
    if name == REJECTED_EVENT:
        assert data["reason"]
        conversation.complete = False
    else:
        assert name == "bot_uttered" and data.get("text"), event
        conversation.replies.append(data["text"])


def socket_conversation(bot: BotServer, conversation: Conversation, closing_reply: str) -> None:
    client = SocketClient(bot.url)
    try:
        client.client.emit("session_request", {"session_id": conversation.sender})
        name, session_id = client.next_event(REPLY_TIMEOUT) or (None, None)
        assert name == "session_confirm", "no session_confirm"
        if conversation.unique:
            assert session_id == conversation.sender
        for message in [*conversation.messages, CLOSING_MESSAGE]:
            packet = {"message": message, "session_id": session_id}
            if conversation.metadata is not None:
                packet["customData"] = conversation.metadata
            client.client.emit("user_uttered", packet)
            event = client.next_event(REPLY_TIMEOUT)
            assert event is not None, "a message got no reply and no rejection"
            record(conversation, event)
        # The rest of the replies, up to the closing message's.
        while conversation.complete and conversation.replies[-1] != closing_reply:
            event = client.next_event(REPLY_TIMEOUT)
            assert event is not None, "replies stopped before the closing message's"
            record(conversation, event)
        if conversation.unique and conversation.complete:
            receive_closing_turn(bot, client, conversation)
    finally:
        client.close()


def receive_closing_turn(bot: BotServer, client: SocketClient, conversation: Conversation) -> None:
    """Read the closing turn's remaining paragraphs, as many as the store holds.

    Once the pain is persistent, the closing greeting is followed by the doctor advice, so
    the greeting is not always the last paragraph. socket.io sends a turn before storing
    it; the closing turn is stored once the store holds as many paragraphs as arrived.
    """
    sender = conversation.sender
    deadline = time.monotonic() + STORE_WAIT_SECONDS
    stored = paragraphs(stored_bot_texts(bot, [sender])[sender])
    settled_reads = 0
    # The store may still be writing a turn that the client has not read (an earlier
    # greeting can end the closing read early): wait until its count holds steady.
    while time.monotonic() < deadline and (
        len(stored) < len(paragraphs(conversation.replies)) or settled_reads < 3
    ):
        time.sleep(0.2)
        latest = paragraphs(stored_bot_texts(bot, [sender])[sender])
        settled_reads = settled_reads + 1 if len(latest) == len(stored) else 0
        stored = latest
    while len(paragraphs(conversation.replies)) < len(stored):
        event = client.next_event(STORE_WAIT_SECONDS)
        if event is None:
            return  # check_batch reports what was stored but never sent
        record(conversation, event)


def test_socketio_fuzz(fuzz_bot, responses):
    closing_reply = responses["utter_greet"]
    run = lambda c: socket_conversation(fuzz_bot, c, closing_reply)  # noqa: E731
    assert fuzz(fuzz_bot, run) >= MESSAGES
