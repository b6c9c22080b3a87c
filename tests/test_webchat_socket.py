"""The web chat's socket.io protocol, spoken to the running bot as the chat page speaks it.

The page (web/chat.js) emits `session_request`, waits for `session_confirm`, then sends
`user_uttered` ({message, customData, session_id}) asking for an acknowledgement, and shows
each `bot_uttered`.
"""

from __future__ import annotations

import contextlib
import json
import urllib.request
import uuid

import pytest
import socketio
from helpers.socketio_chat import ChatSession

from bot.channels.webchat import MAX_PACKET_BYTES, REJECTED_EVENT
from bot.knowledge import section_title
from ops.settings import current

LIFTING_QUESTION = "why does my upper back hurt after lifting"
RED_FLAG = "my back hurts and I have chest pain"
REPLY_TIMEOUT = 30
# After a turn's last expected reply, how long to watch for anything that should not come.
QUIET_PERIOD = 1.5


@pytest.fixture
def chat(bot):
    sessions: list[ChatSession] = []

    def open_session(headers: dict | None = None) -> ChatSession:
        sessions.append(ChatSession(bot.url, headers))
        return sessions[-1]

    yield open_session
    for session in sessions:
        session.close()


def texts(received: list[tuple[str, object]]) -> list[str]:
    return [data.get("text") for name, data in received if name == "bot_uttered"]


def bot_is_up(bot) -> bool:
    with urllib.request.urlopen(f"{bot.url}/webhooks/rest/", timeout=5) as response:
        return response.status == 200 and bot.supervisor.process("rasa").poll() is None


def test_session_and_answer_with_quick_replies(chat, knowledge, responses):
    session = chat()
    session_id = session.start()
    assert len(session_id) == 32

    session.say(LIFTING_QUESTION)
    lifting = knowledge.entries["improper_lifting"]
    answer = session.wait_for_text(lifting.answer)

    assert texts(session.received) == [responses["utter_disclaimer"], lifting.answer]
    expected = [{"content_type": "text", **button} for button in knowledge.buttons(lifting)]
    assert answer["quick_replies"] == expected


def test_a_reconnecting_page_keeps_its_session(chat, knowledge):
    first = chat()
    session_id = first.start()
    first.close()

    again = chat()
    assert again.start(session_id) == session_id
    again.say(LIFTING_QUESTION)
    again.wait_for_text(knowledge.entries["improper_lifting"].answer)


def test_two_concurrent_sessions_do_not_see_each_other(chat, knowledge, responses):
    lifting, emergency = knowledge.entries["improper_lifting"].answer, responses["utter_emergency"]
    asking, alarmed = chat(), chat()
    assert asking.start() != alarmed.start()

    asking.say(LIFTING_QUESTION)
    alarmed.say(RED_FLAG)
    asking.wait_for_text(lifting)
    alarmed.wait_for_text(emergency)

    assert emergency not in texts(asking.drain())
    assert lifting not in texts(alarmed.drain())
    assert texts(alarmed.received) == [emergency]


def test_the_emergency_reply_carries_the_numbers_for_the_senders_place(chat, rest, responses):
    session = chat()
    session.start()
    session.say(RED_FLAG)  # with locale en-GB
    emergency = session.wait_for_text(responses["utter_emergency"])["metadata"]["emergency"]
    assert emergency["local"] == {"number": "999", "where": "the UK"}
    assert [n["number"] for n in emergency["others"]] == ["911", "000", "112"]

    # REST keeps the text and adds the same metadata; with nothing to go on, no local number.
    [reply] = rest.send(f"rest-{uuid.uuid4()}", RED_FLAG)
    assert reply["text"] == responses["utter_emergency"]
    assert reply["metadata"]["emergency"]["local"] is None
    assert len(reply["metadata"]["emergency"]["others"]) == 4
    status, body = rest.post(
        json.dumps(
            {"sender": f"rest-{uuid.uuid4()}", "message": RED_FLAG,
             "metadata": {"time_zone": "Australia/Sydney"}}
        ).encode()
    )  # fmt: skip
    assert status == 200
    assert json.loads(body)[0]["metadata"]["emergency"]["local"]["number"] == "000"


def test_a_health_answer_names_its_article_section_after_its_last_part(chat, rest, knowledge):
    lifting = knowledge.entries["improper_lifting"]
    sources = {"sources": [section_title(lifting.heading)]}
    session = chat()
    session.start()
    session.say(LIFTING_QUESTION)
    assert session.wait_for_text(lifting.answer)["metadata"] == sources
    disclaimer = next(data for name, data in session.received if name == "bot_uttered")
    assert "metadata" not in disclaimer

    replies = rest.send(f"rest-{uuid.uuid4()}", LIFTING_QUESTION)
    assert [reply.get("metadata") for reply in replies] == [None, sources]


def test_the_acknowledgement_says_whether_a_message_got_through(chat, knowledge):
    session = chat()
    session_id = session.start()
    good = {"message": LIFTING_QUESTION, "session_id": session_id}
    # Acknowledged once answered: the answer is already there.
    assert session.client.call("user_uttered", good, timeout=REPLY_TIMEOUT) is None
    session.wait_for_text(knowledge.entries["improper_lifting"].answer)

    refused = {**good, "customData": {"locale": "not valid"}}
    ack = session.client.call("user_uttered", refused, timeout=REPLY_TIMEOUT)
    assert ack == {"rejected": "The metadata value for locale is not valid."}


BAD_MESSAGES = {
    "not an object": "hello",
    "a list": ["hello"],
    "null": None,
    "no message": {},
    "message not text": {"message": {"text": "hi"}},
    "another session": {"message": "hi", "session_id": "0123456789abcdef"},
    "customData not an object": {"message": "hi", "customData": "[1, 2"},
    "customData with unknown keys": {"message": "hi", "customData": {"user": "x\ud800"}},
}
# The same replies as the REST channel gives, from the same input policy.
UNANSWERABLE = {
    "empty": ("   ", "utter_not_understood"),
    "no words": ("😩🙏 !!", "utter_not_understood"),
    "too long": ("a" * (current().limits.max_message_chars + 1), "utter_message_too_long"),
}


def test_messages_before_session_confirm_are_rejected(chat, knowledge):
    session = chat()
    session.client.emit("user_uttered", {"message": LIFTING_QUESTION, "session_id": "x" * 32})
    assert "session_request" in session.wait_for(REJECTED_EVENT)["reason"]

    session.start()
    session.say(LIFTING_QUESTION)
    session.wait_for_text(knowledge.entries["improper_lifting"].answer)


@pytest.mark.parametrize("payload", BAD_MESSAGES.values(), ids=BAD_MESSAGES.keys())
def test_malformed_messages_get_a_clear_error_and_nothing_else(chat, bot, payload):
    session = chat()
    session_id = session.start()
    if isinstance(payload, dict):
        payload = {"session_id": session_id, **payload}

    session.client.emit("user_uttered", payload)

    assert session.wait_for(REJECTED_EVENT)["reason"]
    assert texts(session.drain()) == []
    assert bot_is_up(bot)


@pytest.mark.parametrize("case", UNANSWERABLE.values(), ids=UNANSWERABLE.keys())
def test_messages_with_no_words_or_too_many_get_the_rest_channels_reply(
    chat, rest, responses, case
):
    text, expected = case
    session = chat()
    session.start()
    session.say(text)
    session.wait_for_text(responses[expected])
    assert rest.texts(f"rest-{uuid.uuid4()}", text) == [responses[expected]]


@pytest.mark.parametrize("request_data", ["hello", None, {"session_id": "../" * 40}, [1]])
def test_a_malformed_session_request_gets_a_fresh_session(chat, request_data):
    session = chat()
    session.client.emit("session_request", request_data)
    session_id = session.wait_for("session_confirm")
    assert isinstance(session_id, str) and len(session_id) == 32


def test_an_oversized_packet_drops_only_its_own_connection(chat, bot, knowledge):
    bystander = chat()
    bystander.start()
    flooding = chat()
    flooding_id = flooding.start()

    message = {"message": "a" * MAX_PACKET_BYTES, "session_id": flooding_id}
    # The server may refuse the packet at once; either way nothing is answered.
    with contextlib.suppress(socketio.exceptions.SocketIOError):
        flooding.client.emit("user_uttered", message)
    assert texts(flooding.drain()) == []

    bystander.say(LIFTING_QUESTION)
    bystander.wait_for_text(knowledge.entries["improper_lifting"].answer)
    assert bot_is_up(bot)


def test_sockets_from_other_origins_are_refused(chat, bot):
    with pytest.raises(socketio.exceptions.ConnectionError):
        chat({"Origin": "http://elsewhere.example"})
    assert chat({"Origin": bot.url}).start()
