"""Web chat channel: Rasa's socket.io channel plus the chat page, on one origin.

Referenced from credentials.yml by its module path (`CHANNEL`). Against Rasa 3.6's
`socketio` channel it:
- serves the page in web/ and botfront's rasa-webchat bundle at /chat/, so the page, its
  assets and the socket are one origin and the page needs no other host;
- accepts sockets only from the page's own origin, or from the origins listed in
  WEBCHAT_ALLOWED_ORIGINS (comma-separated); `*` is refused;
- awaits `enter_room` (python-socketio 5.10+ made it a coroutine; Rasa 3.6 does not await
  it, so with session_persistence its replies reach nobody);
- answers a `message_rejected` event, and does nothing else, for messages that are
  malformed, too long, sent before `session_confirm` or for another session;
- forwards a response's `metadata` to the widget: domain.yml marks utter_emergency with
  rasa-webchat's `customCss`, so the page shows it in its emergency style.
"""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Awaitable, Callable
from functools import cache
from typing import Any

from rasa.core.channels.channel import UserMessage
from rasa.core.channels.socketio import SocketBlueprint, SocketIOInput, SocketIOOutput
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse
from socketio import AsyncServer

from bot import ROOT

CHANNEL = "bot.channels.webchat.WebChatInput"
WEB_DIR = ROOT / "web"
WIDGET_BUNDLE = ROOT / "node_modules" / "rasa-webchat" / "lib" / "index.js"
ALLOWED_ORIGINS_ENV = "WEBCHAT_ALLOWED_ORIGINS"
REJECTED_EVENT = "message_rejected"
MAX_MESSAGE_CHARS = 1000
# Engine.IO closes a connection whose packet is bigger than this (its default is 1 MB).
MAX_PACKET_BYTES = 16 * 1024
# rasa-webchat and this channel use uuid4 hex; anything else gets a fresh session.
SESSION_ID = re.compile(r"[A-Za-z0-9_-]{8,64}")
# The widget's stylesheets import a web font from Google; the page uses system fonts.
REMOTE_CSS_IMPORT = re.compile(rb"@import url\(https?://[^)]*\);")

PAGE_FILES = {
    "index.html": "text/html; charset=utf-8",
    "chat.css": "text/css; charset=utf-8",
    "chat.js": "text/javascript; charset=utf-8",
}
WIDGET_FILE = "rasa-webchat.js"
# The widget injects <style> tags and inline styles; everything else comes from here.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
    "font-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'self'"
)


def allowed_origins(environ: dict[str, str]) -> list[str] | None:
    """Origins that may open a socket; None means the page's own origin only."""
    origins = [o.strip().rstrip("/") for o in environ.get(ALLOWED_ORIGINS_ENV, "").split(",")]
    origins = [o for o in origins if o]
    if "*" in origins:
        raise ValueError(f"{ALLOWED_ORIGINS_ENV} must list origins; '*' is not allowed")
    return origins or None


@cache
def widget_bundle() -> bytes:
    if not WIDGET_BUNDLE.exists():
        raise FileNotFoundError(f"{WIDGET_BUNDLE} is missing: run `make setup` (npm ci)")
    return REMOTE_CSS_IMPORT.sub(b"", WIDGET_BUNDLE.read_bytes())


def rejection_reason(data: Any, session_id: str | None, metadata_key: str) -> str | None:
    """Why a user message cannot be handled, or None when it can."""
    if session_id is None:
        return "send session_request and wait for session_confirm first"
    if not isinstance(data, dict):
        return "a message must be an object with `message` and `session_id`"
    text = data.get("message")
    if not isinstance(text, str) or not text.strip():
        return "`message` must be non-empty text"
    if len(text) > MAX_MESSAGE_CHARS:
        return f"`message` is longer than {MAX_MESSAGE_CHARS} characters"
    if data.get("session_id") != session_id:
        return "`session_id` is not the session confirmed for this connection"
    if not isinstance(data.get(metadata_key, {}), dict):
        return f"`{metadata_key}` must be an object"
    return None


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
        for message in messages:
            if metadata:
                message["metadata"] = metadata
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
        sio = AsyncServer(
            async_mode="sanic",
            cors_allowed_origins=allowed_origins(os.environ),
            max_http_buffer_size=MAX_PACKET_BYTES,
        )
        self.sio = sio
        bundle = widget_bundle()  # fails at startup, not on first page load
        chat = SocketBlueprint(sio, self.socketio_path, "webchat", __name__)

        def serve(name: str) -> HTTPResponse:
            headers = {"X-Content-Type-Options": "nosniff"}
            if name == WIDGET_FILE:
                return response.raw(bundle, content_type=PAGE_FILES["chat.js"], headers=headers)
            if name not in PAGE_FILES:
                return response.text("Not found", status=404)
            headers["Content-Security-Policy"] = CONTENT_SECURITY_POLICY
            body = (WEB_DIR / name).read_bytes()
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
            requested = data.get("session_id") if isinstance(data, dict) else None
            if isinstance(requested, str) and SESSION_ID.fullmatch(requested):
                session_id = requested
            else:
                session_id = uuid.uuid4().hex
            if self.session_persistence:
                previous = (await sio.get_session(sid, namespace=self.namespace)).get("session_id")
                if previous:
                    await sio.leave_room(sid, previous, namespace=self.namespace)
                await sio.enter_room(sid, session_id, namespace=self.namespace)
            await sio.save_session(sid, {"session_id": session_id}, namespace=self.namespace)
            await sio.emit("session_confirm", session_id, room=sid, namespace=self.namespace)

        @sio.on(self.user_message_evt, namespace=self.namespace)
        async def handle_message(sid: str, data: Any = None) -> None:
            session = await sio.get_session(sid, namespace=self.namespace)
            session_id = session.get("session_id")
            reason = rejection_reason(data, session_id, self.metadata_key)
            if reason:
                await sio.emit(
                    REJECTED_EVENT, {"reason": reason}, room=sid, namespace=self.namespace
                )
                return
            message = UserMessage(
                data["message"],
                WebChatOutput(sio, self.bot_message_evt),
                session_id if self.session_persistence else sid,
                input_channel=self.name(),
                metadata=data.get(self.metadata_key) or None,
            )
            await on_new_message(message)

        return chat
