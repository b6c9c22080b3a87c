"""A web chat client speaking the chat page's socket.io protocol (Rasa's) to the running bot."""

from __future__ import annotations

import queue
import time
from collections.abc import Callable

import socketio

from bot.channels.webchat import REJECTED_EVENT

REPLY_TIMEOUT = 30
# After a turn's last expected reply, how long to watch for anything that should not come.
QUIET_PERIOD = 1.5


class ChatSession:
    """One browser tab's conversation, over socket.io."""

    def __init__(self, url: str, headers: dict | None = None) -> None:
        self.events: queue.Queue[tuple[str, object]] = queue.Queue()
        self.received: list[tuple[str, object]] = []
        self.client = socketio.Client(reconnection=False)
        for name in ("session_confirm", "bot_uttered", REJECTED_EVENT):
            self.client.on(name, lambda data, name=name: self.events.put((name, data)))
        # Polling: the sync client's websocket needs a package we do not otherwise use; the
        # browser test covers the websocket transport.
        self.client.connect(url, headers=headers or {}, transports=["polling"])
        self.session_id: str | None = None

    def start(self, session_id: str | None = None) -> str:
        self.client.emit("session_request", {"session_id": session_id})
        self.session_id = self.wait_for("session_confirm")
        return self.session_id

    def say(self, text: str) -> None:
        message = {
            "message": text,
            "customData": {"locale": "en-GB"},
            "session_id": self.session_id,
        }
        self.client.emit("user_uttered", message)

    def wait_for(self, event: str, matches: Callable[[object], bool] = lambda _: True) -> object:
        deadline = time.monotonic() + REPLY_TIMEOUT
        while time.monotonic() < deadline:
            try:
                name, data = self.events.get(timeout=0.2)
            except queue.Empty:
                continue
            self.received.append((name, data))
            if name == event and matches(data):
                return data
        raise AssertionError(f"no {event} within {REPLY_TIMEOUT} s; got {self.received}")

    def wait_for_text(self, text: str) -> dict:
        return self.wait_for("bot_uttered", lambda data: data.get("text") == text)

    def drain(self) -> list[tuple[str, object]]:
        """Everything received so far, after a short wait for stragglers."""
        time.sleep(QUIET_PERIOD)
        while not self.events.empty():
            self.received.append(self.events.get())
        return self.received

    def close(self) -> None:
        # abort: do not wait up to a ping interval (25 s) for the pending long-poll to end.
        self.client.eio.disconnect(abort=True)
