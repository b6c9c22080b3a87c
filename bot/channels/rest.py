"""Rasa's REST channel, guarded: every request gets a clear answer, in time.

Stock RestInput answers 500 to a body that is not a JSON object, silently drops
messages that are empty or not text, and waits as long as the action server takes
(up to 5 minutes), then answers nothing if it failed. Here:
- a body that is not a message gets 400 with the reason;
- the text is cleaned (bot.channels.input_policy), so any string gets an answer;
- when the assistant has not answered within `reply_deadline_seconds`, or failed, or
  could not store the turn, the user gets `utter_unavailable` from the domain. Safety
  replies never depend on the action server, so they still arrive.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

import yaml
from rasa.core.channels.channel import CollectingOutputChannel, UserMessage
from rasa.core.channels.rest import RestInput
from sanic import Blueprint
from sanic.exceptions import InvalidUsage
from sanic.request import Request

from bot import ROOT
from bot.channels.input_policy import clean_user_text
from bot.stores.tracker_store import TrackerStoreUnavailable

logger = logging.getLogger(__name__)
DOMAIN_FILE = ROOT / "domain.yml"


@cache
def unavailable_text() -> str:
    domain = yaml.safe_load(DOMAIN_FILE.read_text(encoding="utf-8"))
    return domain["responses"]["utter_unavailable"][0]["text"]


class GuardedRestInput(RestInput):
    def __init__(self, reply_deadline_seconds: float = 5.0) -> None:
        self.reply_deadline_seconds = reply_deadline_seconds

    @classmethod
    def name(cls) -> str:
        return "rest"

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> GuardedRestInput:
        return cls(**(credentials or {}))

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        async def answer_in_time(message: UserMessage) -> None:
            output = message.output_channel
            try:
                await asyncio.wait_for(on_new_message(message), self.reply_deadline_seconds)
            except asyncio.TimeoutError:
                logger.warning("No answer within %s s.", self.reply_deadline_seconds)
            except TrackerStoreUnavailable:
                # The turn is not stored, so its answer must not be sent (the store logged why).
                if isinstance(output, CollectingOutputChannel):
                    output.messages.clear()
            except Exception:
                logger.exception("The assistant failed to answer.")
            if isinstance(output, CollectingOutputChannel) and not output.messages:
                await output.send_text_message(message.sender_id, unavailable_text())

        return super().blueprint(answer_in_time)

    async def _extract_sender(self, req: Request) -> str | None:
        # Malformed JSON already raises InvalidUsage (400) in `req.json`.
        if not isinstance(req.json, dict):
            raise InvalidUsage(
                'The body must be a JSON object: {"sender": "...", "message": "..."}'
            )
        sender = req.json.get("sender")
        if sender is not None and not isinstance(sender, str):
            raise InvalidUsage('"sender" must be a string.')
        # The tracker store's sender_id column holds 255 characters.
        if sender is not None and not 0 < len(sender) <= 255:
            raise InvalidUsage('"sender" must be 1 to 255 characters long.')
        return sender

    def _extract_message(self, req: Request) -> str:
        message = req.json.get("message")
        if not isinstance(message, str):
            raise InvalidUsage('The body needs a "message" string.')
        return clean_user_text(message)
