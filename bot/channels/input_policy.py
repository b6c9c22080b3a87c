"""One input policy for every channel: what a client sends is cleaned or refused here.

REST, the web chat (socket.io) and Telegram pass every field they receive through these
functions before building a `UserMessage`, so nothing a client sends reaches spaCy, the
tracker store or the logs unclean:
- text: lone surrogates replaced, NUL and control characters removed; a message with no
  words gets "not understood", one over the length limit gets "too long" (both replies
  from domain.yml, the same in every channel);
- a leading "/" is Rasa's syntax for a button payload, which skips NLU: only the payloads
  our own buttons send are let through, anything else is read as ordinary text;
- sender ids: a short run of safe characters, or the request is refused;
- metadata: an object with known keys and short plain values, or the request is refused.
"""

from __future__ import annotations

import json
import re
import unicodedata
from functools import cache
from typing import Any

import yaml

from bot.knowledge import knowledge_base
from ops.settings import ROOT, Limits

# C0/C1 control characters; tab and newline become spaces, the rest go.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f]")
WHITESPACE_CONTROLS = re.compile(r"[\t\n\r]")
# Telegram chat ids are integers (negative for groups); web chat session ids are hex.
SENDER_ID = re.compile(r"-?[A-Za-z0-9][A-Za-z0-9_.:@+=-]{0,127}")
# Payloads Rasa reads as an intent, skipping NLU. Button payloads look like
# `/ask_relief` or `/ask_relief{"topic": "massage"}`.
PAYLOAD = re.compile(r"/(?P<intent>[a-z_]{1,64})(?P<entities>\{.{0,200}\})?", re.DOTALL)
PAYLOAD_ENTITY_VALUE = re.compile(r"[a-z_]{1,64}")
BUTTON_ENTITIES = frozenset({"topic"})
# What the assistant answers in place of NLU (rules in data/rules/fallback.yml).
NOT_UNDERSTOOD = "/nlu_fallback"
TOO_LONG = "/message_too_long"
# Metadata a client may attach, with what each value must look like.
METADATA_VALUES = {
    # A BCP 47 language tag such as "en-GB": picks the local emergency number.
    "locale": re.compile(r"[A-Za-z]{2,3}(-[A-Za-z0-9]{1,8}){0,3}"),
    # An IANA time zone such as "Europe/London": picks the number when the locale can't.
    "time_zone": re.compile(r"[A-Za-z_]{1,32}(/[A-Za-z0-9_+-]{1,32}){0,2}"),
}


class RefusedInput(ValueError):
    """A field a client sent cannot be used; the message says which and why, in plain words."""


def clean_text(value: str) -> str:
    """`value` with lone surrogates replaced and control characters removed.

    Lone surrogates are valid in JSON but not in UTF-8: they would crash spaCy and the
    tracker store. Control characters only confuse the tokenizer and the logs.
    """
    value = value.encode("utf-8", "replace").decode("utf-8")
    value = WHITESPACE_CONTROLS.sub(" ", value)
    return unicodedata.normalize("NFC", CONTROL_CHARACTERS.sub("", value)).strip()


# The chat page asks for the greeting when it opens.
PAGE_INTENTS = frozenset({"greet"})


@cache
def button_intents() -> frozenset[str]:
    """The intents our clients send: the chat page's, domain.yml's and the knowledge file's."""
    domain = yaml.safe_load((ROOT / "domain.yml").read_text(encoding="utf-8"))
    payloads = [
        button["payload"]
        for variants in domain["responses"].values()
        for variant in variants
        for button in variant.get("buttons", [])
    ]
    intents = {PAYLOAD.fullmatch(payload)["intent"] for payload in payloads}
    intents |= {c.intent for c in knowledge_base().categories.values()}
    return frozenset(intents | PAGE_INTENTS)


def _allowed_payload(text: str) -> bool:
    match = PAYLOAD.fullmatch(text)
    if match is None or match["intent"] not in button_intents():
        return False
    if match["entities"] is None:
        return True
    try:
        entities = json.loads(match["entities"])
    except ValueError:
        return False
    return (
        isinstance(entities, dict)
        and set(entities) <= BUTTON_ENTITIES
        and all(isinstance(v, str) and PAYLOAD_ENTITY_VALUE.fullmatch(v) for v in entities.values())
    )


def message_text(value: Any, limits: Limits) -> str:
    """The text to hand to the assistant for what a client sent as its message."""
    if not isinstance(value, str):
        raise RefusedInput("The message must be text.")
    if len(value) > limits.max_message_chars:
        return TOO_LONG
    text = clean_text(value)
    if not any(c.isalnum() for c in text):
        return NOT_UNDERSTOOD
    if text.startswith("/") and not _allowed_payload(text):
        # Not one of our buttons: read it as words, never as an intent.
        return text.lstrip("/ ") or NOT_UNDERSTOOD
    return text


def sender_id(value: Any) -> str:
    """A conversation id a client sent, if it is safe to store and log."""
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str) or not SENDER_ID.fullmatch(value):
        raise RefusedInput(
            "The sender must be 1 to 128 letters, digits or the characters _ . : @ + = -"
        )
    return value


def metadata(value: Any) -> dict[str, str] | None:
    """The metadata a client sent, checked key by key; None when it sent none."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise RefusedInput("The metadata must be an object.")
    unknown = sorted(str(key)[:32] for key in value if key not in METADATA_VALUES)
    if unknown:
        known = ", ".join(sorted(METADATA_VALUES))
        raise RefusedInput(f"Unknown metadata {clean_text(', '.join(unknown))}: use only {known}.")
    checked = {}
    for key, item in value.items():
        if not isinstance(item, str) or not METADATA_VALUES[key].fullmatch(item):
            raise RefusedInput(f"The metadata value for {key} is not valid.")
        checked[key] = item
    return checked or None


# A user's rating of an answer (the chat page's and Telegram's "Helpful? 👍 👎").
RATINGS = frozenset({"up", "down"})
# The optional follow-up to a 👎, "What was wrong?".
FEEDBACK_REASONS = frozenset({"wrong_topic", "no_answer", "hard_to_read", "other"})
# Longer than any answer we wrote; what is rated is looked up in the conversation.
MAX_ANSWER_CHARS = 4000


def feedback(rating: Any, reason: Any, answer: Any) -> tuple[str, str | None, str]:
    """A rating, its optional reason and the text of the rated answer, cleaned; or refused."""
    rating, reason = rating_and_reason(rating, reason)
    return rating, reason, rated_answer(answer)


def rating_and_reason(rating: Any, reason: Any) -> tuple[str, str | None]:
    if rating not in RATINGS:
        raise RefusedInput("A rating must be up or down.")
    if reason is not None and (rating != "down" or reason not in FEEDBACK_REASONS):
        raise RefusedInput(
            "A reason is for a 👎 only: wrong_topic, no_answer, hard_to_read or other."
        )
    return rating, reason


def rated_answer(answer: Any) -> str:
    if not isinstance(answer, str) or not answer or len(answer) > MAX_ANSWER_CHARS:
        raise RefusedInput("Say which answer is rated: its text, as the bot sent it.")
    text = clean_text(answer)
    if not text:
        raise RefusedInput("Say which answer is rated: its text, as the bot sent it.")
    return text
