"""Web chat channel: Rasa's socket.io channel plus the chat page, on one origin.

Referenced from credentials.yml by its module path. Against Rasa 3.6's `socketio`
channel it:
- serves the page in web/ and the socket.io-client bundle (npm, from node_modules) at
  /chat/, so the page, its assets and the socket are one origin and the page needs no other
  host; the page's input limit is filled in from the input policy's;
- accepts sockets only from the page's own origin, or from the origins listed in
  WEBCHAT_ALLOWED_ORIGINS (comma-separated); `*` is refused;
- awaits `enter_room` (python-socketio 5.10+ made it a coroutine; Rasa 3.6 does not await
  it, so with session_persistence its replies reach nobody);
- passes every field through bot.channels.input_policy, like the other channels: a
  message that is too long or has no words gets the same reply as in REST; a packet
  that is not a message, or is sent before `session_confirm` or for another session,
  gets a `message_rejected` event with the reason, and does nothing else; a client that
  asks for an acknowledgement gets it once the turn is answered, with the reason if the
  message was rejected, so the page can tell which of its messages did not get through;
- answers within the reply deadline, or with the same fallback as REST
  (bot.channels.reply_guard);
- forwards a response's `metadata` with the last part of the reply: health answers name
  their article sections (`sources`), the emergency reply carries the numbers to call
  (`emergency`), and the page shows them after the reply;
- takes the page's "Helpful? 👍 👎" as a `feedback` packet ({session_id, rating, reason,
  answer}), cleaned by the input policy and stored with the conversation in the tracker
  store; it never reaches the assistant, so it never changes what the bot says.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, Sanic, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from bot.channels import input_policy
from bot.channels.reply_guard import answer_in_time
from bot.channels.server import configure_server
from bot.stores.tracker_store import TrackerStoreUnavailable
from ops.settings import ROOT, current

WEB_DIR = ROOT / "web"
SOCKET_CLIENT = ROOT / "node_modules" / "socket.io-client" / "dist" / "socket.io.min.js"
REJECTED_EVENT = "message_rejected"
FEEDBACK_EVENT = "feedback"
# Engine.IO closes a connection whose packet is bigger than this (its default is 1 MB).
MAX_PACKET_BYTES = 16 * 1024
# Where index.html takes the input policy's length limit.
MAX_CHARS_MARK = b"{{max_message_chars}}"

PAGE_FILES = {
    "index.html": "text/html; charset=utf-8",
    "chat.css": "text/css; charset=utf-8",
    "chat.js": "text/javascript; charset=utf-8",
}
SOCKET_CLIENT_FILE = "socket.io.min.js"
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; "
    "form-action 'self'; frame-ancestors 'self'"
)


@cache
def socket_client() -> bytes:
    if not SOCKET_CLIENT.exists():
        raise FileNotFoundError(f"{SOCKET_CLIENT} is missing: run `make setup` (npm ci)")
    return SOCKET_CLIENT.read_bytes()


def user_message(
    data: Any, session_id: str | None, metadata_key: str
) -> tuple[str, dict[str, str] | None]:
    """The text and metadata of a `user_uttered` packet; RefusedInput says why not."""
    if session_id is None:
        raise input_policy.RefusedInput("Send session_request and wait for session_confirm first.")
    if not isinstance(data, dict):
        raise input_policy.RefusedInput("A message must be an object with message and session_id.")
    if data.get("session_id") != session_id:
        raise input_policy.RefusedInput(
            "session_id is not the session confirmed for this connection."
        )
    text = input_policy.message_text(data.get("message"), current().limits)
    return text, input_policy.metadata(data.get(metadata_key))


class WebChatOutput(SocketIOOutput):
    """Rasa's socket.io output, with the response's metadata on every message."""

    async def _send_parts(
        self, recipient_id: str, text: str, metadata: dict | None, quick_replies: list
    ) -> None:
        *parts, last = text.strip().split("\n\n")
        messages = [{"text": part} for part in parts]
        messages.append(
            {"text": last, "quick_replies": quick_replies} if quick_replies else {"text": last}
        )
        if metadata:
            messages[-1]["metadata"] = metadata  # shown after the whole reply
        for message in messages:
            await self._send_message(recipient_id, message)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        await self._send_parts(recipient_id, text, kwargs.get("metadata"), [])

    async def send_text_with_buttons(
        self, recipient_id: str, text: str, buttons: list[dict], **kwargs: Any
    ) -> None:
        quick_replies = [
            {"content_type": "text", "title": b["title"], "payload": b["payload"]} for b in buttons
        ]
        await self._send_parts(recipient_id, text, kwargs.get("metadata"), quick_replies)


class WebChatInput(SocketIOInput):
    """The socket.io channel (still named `socketio` in trackers) and the chat page."""

    @classmethod
    def url_prefix(cls) -> str:
        # Absolute, so Rasa mounts the page at /chat rather than under /webhooks/.
        return "/chat"

    def get_output_channel(self) -> WebChatOutput | None:
        return WebChatOutput(self.sio, self.bot_message_evt) if self.sio else None

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        settings = current()
        origins = list(settings.webchat_origins) if settings.webchat_origins else None
        sio = AsyncServer(
            async_mode="sanic", cors_allowed_origins=origins, max_http_buffer_size=MAX_PACKET_BYTES
        )
        self.sio = sio
        client = socket_client()  # fails at startup, not on first page load
        max_chars = str(settings.limits.max_message_chars).encode()
        chat = SocketBlueprint(sio, self.socketio_path, "webchat", __name__)
        configure_server(chat)
        server: list[Sanic] = []  # the app, once it runs: its agent answers fallbacks

        @chat.listener("before_server_start")
        async def remember_app(app: Sanic, _loop: object) -> None:
            server.append(app)

        def serve(name: str) -> HTTPResponse:
            headers = {"X-Content-Type-Options": "nosniff"}
            if name == SOCKET_CLIENT_FILE:
                return response.raw(client, content_type=PAGE_FILES["chat.js"], headers=headers)
            if name not in PAGE_FILES:
                return response.text("Not found", status=404)
            headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
            body = (WEB_DIR / name).read_bytes().replace(MAX_CHARS_MARK, max_chars)
            return response.raw(body, content_type=PAGE_FILES[name], headers=headers)

        @chat.route("/", methods=["GET"])
        async def page(request: Request) -> HTTPResponse:
            if not request.path.endswith("/"):
                return response.redirect(f"{request.path}/")  # so relative asset URLs work
            return serve("index.html")

        @chat.route("/<name>", methods=["GET"])
        async def asset(_: Request, name: str) -> HTTPResponse:
            return serve(name or "index.html")  # Sanic routes /chat/ here with an empty name

        @sio.on("session_request", namespace=self.namespace)
        async def session_request(sid: str, data: Any = None) -> None:
            try:
                requested = data.get("session_id") if isinstance(data, dict) else None
                session_id = input_policy.sender_id(requested)
            except input_policy.RefusedInput:
                session_id = uuid.uuid4().hex
            if self.session_persistence:
                previous = (await sio.get_session(sid, namespace=self.namespace)).get("session_id")
                if previous:
                    await sio.leave_room(sid, previous, namespace=self.namespace)
                await sio.enter_room(sid, session_id, namespace=self.namespace)
            await sio.save_session(sid, {"session_id": session_id}, namespace=self.namespace)
            await sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: Any = None) -> dict[str, str] | None:
            # What it returns is the acknowledgement, for a client that asked for one.
            session = await sio.get_session(sid, namespace=self.namespace)
            session_id = session.get("session_id")
            try:
                text, metadata = user_message(data, session_id, self.metadata_key)
            except input_policy.RefusedInput as refused:
                await sio.emit(
                    REJECTED_EVENT, {"reason": str(refused)}, room=sid, namespace=self.namespace
                )
                return {"rejected": str(refused)}
            message = UserMessage(
                text,
                WebChatOutput(sio, self.bot_message_evt),
                session_id if self.session_persistence else sid,
                input_channel=self.name(),
                metadata=metadata,
            )
            agent = getattr(server[0].ctx, "agent", None) if server else None
            await answer_in_time(
                on_new_message, message, agent, current().limits.reply_deadline_seconds
            )

        @sio.on(FEEDBACK_EVENT, namespace=self.namespace)
        async def handle_feedback(sid: str, data: Any = None) -> dict[str, Any]:
            session = await sio.get_session(sid, namespace=self.namespace)
            try:
                if not isinstance(data, dict) or data.get("session_id") != session.get(
                    "session_id"
                ):
                    raise input_policy.RefusedInput("Feedback is for this session's answers.")
                rating, reason, answer = input_policy.feedback(
                    data.get("rating"), data.get("reason"), data.get("answer")
                )
            except input_policy.RefusedInput as refused:
                return {"rejected": str(refused)}
            agent = getattr(server[0].ctx, "agent", None) if server else None
            stored = await store_feedback(agent, session["session_id"], rating, reason, answer)
            return {"ok": True} if stored else {"rejected": "That answer is not in this chat."}

        return chat


async def store_feedback(
    agent: Any, sender_id: str, rating: str, reason: str | None, answer: str | None
) -> bool:
    """Store a rating in the agent's tracker store; False when that answer is not there
    (None: a reason for the conversation's latest 👎)."""
    store = getattr(agent, "tracker_store", None)
    # Rasa wraps every tracker store in a FailSafeTrackerStore; ours is the one inside.
    store = getattr(store, "_tracker_store", store)
    if not hasattr(store, "add_feedback"):
        return False
    try:
        return await store.add_feedback(sender_id, rating, reason, answer)
    except TrackerStoreUnavailable:
        return False
