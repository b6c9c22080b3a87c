"""Property-based fuzzing of the REST channel: 10,000 generated requests, no 5xx, no hang,
every valid message answered."""

from __future__ import annotations

import json
import urllib.error
import urllib.request

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ops.launcher import SERVER_ENV

EXAMPLES = 10_000
MAX_REQUEST_BYTES = int(SERVER_ENV["SANIC_REQUEST_MAX_SIZE"])
TIMEOUT_SECONDS = 10

surrogates = st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), max_size=5)
control_characters = st.text(st.characters(max_codepoint=0x1F), max_size=20)
other_scripts = st.sampled_from(
    ["Me duele la espalda", "Боль в спине", "背中が痛い", "ألم في الظهر", "पीठ दर्द", "😩🙏💆"]
)
json_junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(max_size=10),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=10,
).map(json.dumps)
huge = st.sampled_from(["a", "ache ", "\u00e9", "😩"]).map(
    lambda unit: unit * (100_000 // len(unit.encode()))
)
messages = st.one_of(
    st.text(max_size=300),
    st.just(""),
    surrogates,
    control_characters,
    other_scripts,
    json_junk,
    st.builds(lambda a, b: a + b, st.text(max_size=50), surrogates),
    huge,
)
senders = st.one_of(st.uuids().map(str), st.text(max_size=300), st.integers(), st.none())


def post(url: str, body: bytes) -> tuple[int, bytes]:
    request = urllib.request.Request(url, body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(message=messages, sender=senders)
def test_every_request_gets_an_answer_and_never_a_server_error(rest, message, sender):
    payload = {"sender": sender, "message": message}
    try:
        body = json.dumps(payload, ensure_ascii=False).encode()  # as browsers send it
    except UnicodeEncodeError:  # lone surrogates exist only as JSON escapes
        body = json.dumps(payload).encode()
    status, content = post(rest.url, body)  # a hang fails here with a timeout
    assert status < 500, content[:300]
    valid_sender = sender is None or (isinstance(sender, str) and 0 < len(sender) <= 255)
    if len(body) > MAX_REQUEST_BYTES:
        assert status == 413
    elif valid_sender:
        assert status == 200, content[:300]
        replies = json.loads(content)
        assert replies and all(r.get("text") for r in replies)
    else:
        assert status == 400
