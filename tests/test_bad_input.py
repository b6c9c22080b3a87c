"""Messages a user can send by mistake each get a clear reply, and the bot recovers."""

from __future__ import annotations

import json
import time
import urllib.request
import uuid

import pytest

# Long enough for a busy CI machine, short enough to catch a hang or a slow path.
REPLY_TIMEOUT_SECONDS = 10

BAD_INPUTS = {
    "empty": "",
    "whitespace only": " \t\n  ",
    "100 kB": "blorf " * 20_000,
    "emoji only": "😩😩🙏",
    # No language detection: an unknown language scores low and falls back to "please ask
    # in English", rather than being guessed as off-topic.
    "spanish": "me duele la espalda",
}


def post(url: str, sender: str, text: str) -> tuple[int, list[dict]]:
    """The HTTP status and the bot's messages, as a REST client sees them."""
    body = json.dumps({"sender": sender, "message": text}).encode()
    request = urllib.request.Request(url, body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=REPLY_TIMEOUT_SECONDS) as response:
        return response.status, json.loads(response.read())


@pytest.mark.parametrize("text", BAD_INPUTS.values(), ids=BAD_INPUTS.keys())
def test_bad_input_gets_not_understood_and_the_bot_recovers(text, rest, responses, knowledge):
    sender = f"bad-input-{uuid.uuid4()}"
    started = time.monotonic()
    status, replies = post(rest.url, sender, text)
    assert time.monotonic() - started < REPLY_TIMEOUT_SECONDS
    assert status == 200
    assert [m.get("text") for m in replies] == [responses["utter_not_understood"]]

    # The same conversation still gets normal answers afterwards.
    assert rest.texts(sender, "does massage help") == [
        responses["utter_disclaimer"],
        knowledge.entries["massage"].answer,
    ]
