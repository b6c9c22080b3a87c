"""Rasa's REST channel, with the request checked before the assistant sees it.

Stock RestInput answers 500 to a body that is not a JSON object and silently drops
messages that are empty or not text. Here those get a clear 400, and the text is
cleaned (bot.channels.user_text) so any string gets an answer.
"""

from __future__ import annotations

from rasa.core.channels.rest import RestInput
from sanic.exceptions import InvalidUsage
from sanic.request import Request

from bot.channels.user_text import clean_user_text


class ValidatedRestInput(RestInput):
    @classmethod
    def name(cls) -> str:
        return "rest"

    async def _extract_sender(self, req: Request) -> str | None:
        # Malformed JSON already raises InvalidUsage (400) in `req.json`.
        if not isinstance(req.json, dict):
            raise InvalidUsage(
                'The body must be a JSON object: {"sender": "...", "message": "..."}'
            )
        sender = req.json.get("sender")
        if sender is not None and not isinstance(sender, str):
            raise InvalidUsage('"sender" must be a string.')
        return sender

    def _extract_message(self, req: Request) -> str:
        message = req.json.get("message")
        if not isinstance(message, str):
            raise InvalidUsage('The body needs a "message" string.')
        return clean_user_text(message)
