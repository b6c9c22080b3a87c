"""Rasa's REST channel (`/webhooks/rest/webhook`), with the input policy and a reply deadline.

Stock RestInput answers 500 to a body that is not a JSON object, takes any sender id,
metadata and input channel name a client sends, logs the user's text when a turn fails,
and waits as long as the action server takes. Here:
- every field goes through bot.channels.input_policy; a body that is not a message gets
  400 with the reason in plain words;
- a reply always comes within the deadline (bot.channels.reply_guard);
- a reply keeps its response metadata (stock Rasa drops it): health answers name their
  article sections (`sources`), the emergency reply carries the numbers (`emergency`), so
  an app can show them its own way while `text` stays the answer's own words.
It does not offer stock Rasa's `?stream=true`, which no client of ours uses.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from rasa.core.channels.channel import CollectingOutputChannel, InputChannel, UserMessage
from sanic import Blueprint, response
from sanic.exceptions import InvalidUsage
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import input_policy
from bot.channels.reply_guard import answer_in_time
from bot.channels.server import configure_server
from ops.settings import current

BODY_SHAPE = 'The body must be a JSON object: {"sender": "...", "message": "..."}.'


class RestOutput(CollectingOutputChannel):
    """Rasa's collecting output, with each reply's metadata on its last message."""

    def _keep_metadata(self, kwargs: dict[str, Any]) -> None:
        if kwargs.get("metadata"):
            self.messages[-1]["metadata"] = kwargs["metadata"]

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await super().send_text_message(recipient_id, text, **kwargs)
        self._keep_metadata(kwargs)

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict[str, Any]], **kwargs: Any
    ) -> None:
        await super().send_text_with_buttons(recipient_id, text, buttons, **kwargs)
        self._keep_metadata(kwargs)


class GuardedRestInput(InputChannel):
    @classmethod
    def name(cls) -> str:
        return "rest"

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        limits = current().limits
        rest = Blueprint("rest_webhook", __name__)
        configure_server(rest)

        @rest.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @rest.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            try:
                body = request.json
            except InvalidUsage:
                body = None
            try:
                if not isinstance(body, dict):
                    raise input_policy.RefusedInput(BODY_SHAPE)
                sender = input_policy.sender_id(body.get("sender"))
                text = input_policy.message_text(body.get("message"), limits)
                metadata = input_policy.metadata(body.get("metadata"))
            except input_policy.RefusedInput as refused:
                return response.json({"error": str(refused)}, status=400)
            collector = RestOutput()
            message = UserMessage(
                text, collector, sender, input_channel=self.name(), metadata=metadata
            )
            await answer_in_time(
                on_new_message,
                message,
                getattr(request.app.ctx, "agent", None),
                limits.reply_deadline_seconds,
            )
            return response.json(collector.messages)

        return rest
