"""A Telegram Bot API emulator for the tests, and chats that talk to the bot through it.

The emulator (npm telegram-test-api, see telegram_emulator.js) plays Telegram's API: the
bot calls getMe, setWebhook and sendMessage on it. `TelegramChat` plays Telegram's side of
the webhook: it posts real update JSON to the bot, with the secret token header, and reads
back what the bot sent to that chat.
"""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

from bot.channels.telegram import SECRET_HEADER

SCRIPT = Path(__file__).with_name("telegram_emulator.js")
update_ids = itertools.count(1)


def post_json(url: str, body: dict, headers: dict | None = None, timeout: float = 60) -> tuple:
    """POST `body` as JSON; (status, parsed or raw response body)."""
    request = urllib.request.Request(
        url, json.dumps(body).encode(), {"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:
            payload = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        payload, status = error.read(), error.code
    try:
        return status, json.loads(payload)
    except ValueError:
        return status, payload.decode()


class TelegramEmulator:
    """The emulator as a child process on a loopback port."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.api_url = f"http://127.0.0.1:{port}"
        self._webhook_log = Path(tempfile.mkstemp(prefix="telegram-webhooks-")[1])
        self.process: subprocess.Popen | None = None

    def start(self, timeout: float = 30) -> TelegramEmulator:
        self.process = subprocess.Popen(
            ["node", str(SCRIPT), str(self.port), str(self._webhook_log)],
            cwd=SCRIPT.parent,
            stdout=subprocess.DEVNULL,
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"the emulator exited with code {self.process.returncode}")
            try:
                post_json(f"{self.api_url}/getUpdatesHistory", {"token": "-"}, timeout=2)
                return self
            except OSError:
                time.sleep(0.2)
        self.stop()
        raise TimeoutError(f"the Telegram emulator did not start within {timeout:.0f} s")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=10)
        self._webhook_log.unlink(missing_ok=True)

    def __enter__(self) -> TelegramEmulator:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def webhooks(self) -> list[dict]:
        """Every setWebhook call the emulator received, oldest first."""
        return [json.loads(line) for line in self._webhook_log.read_text().splitlines()]

    def new_messages(self, token: str, chat_id: int) -> list[dict]:
        """What the bot sent to a chat (sendMessage) since the last call, oldest first."""
        _, body = post_json(f"{self.api_url}/getUpdates", {"token": token, "chatId": chat_id})
        return [
            {"message_id": update["messageId"], **update["message"]}
            for update in sorted(body["result"], key=lambda update: update["messageId"])
        ]


class TelegramChat:
    """A private chat with the bot: sends what Telegram would post to the bot's webhook."""

    def __init__(
        self,
        emulator: TelegramEmulator,
        token: str,
        webhook_url: str,
        secret: str,
        chat_id: int,
        language_code: str = "en",
    ) -> None:
        self.emulator = emulator
        self.token = token
        self.webhook_url = webhook_url
        self.secret = secret
        # The language of the user's Telegram app, sent with every update.
        self.user = {
            "id": chat_id,
            "is_bot": False,
            "first_name": "Test",
            "language_code": language_code,
        }
        self.chat = {"id": chat_id, "first_name": "Test", "type": "private"}
        self.message_ids = itertools.count(1)

    def message(self, **content: object) -> dict:
        return {
            "message_id": next(self.message_ids),
            "from": self.user,
            "chat": self.chat,
            "date": int(time.time()),
            **content,
        }

    def post(self, update: dict, headers: dict | None = None) -> int:
        """Post an update to the webhook, by default with the secret token; the status."""
        if headers is None:
            headers = {SECRET_HEADER: self.secret}
        status, _ = post_json(self.webhook_url, {"update_id": next(update_ids), **update}, headers)
        return status

    def deliver(self, update: dict) -> list[dict]:
        """Deliver an update as Telegram would; what the bot sent to this chat in response.

        The bot answers before it acknowledges the update, so by then all it sent is in
        the emulator.
        """
        status = self.post(update)
        assert status == 200, f"the webhook answered {status}"
        return self.emulator.new_messages(self.token, self.chat["id"])

    def say(self, text: str) -> list[dict]:
        return self.deliver({"message": self.message(text=text)})

    def tap(self, bot_message: dict, button_text: str) -> list[dict]:
        """Tap an inline keyboard button under one of the bot's messages."""
        [data] = [
            button["callback_data"]
            for row in bot_message["reply_markup"]["inline_keyboard"]
            for button in row
            if button["text"] == button_text
        ]
        shown = {
            "message_id": bot_message["message_id"],
            "from": {"id": 666, "is_bot": True, "first_name": "Test First name"},
            "chat": self.chat,
            "date": int(time.time()),
            "text": bot_message["text"],
            "reply_markup": bot_message["reply_markup"],
        }
        callback = {
            "id": str(next(update_ids)),
            "from": self.user,
            "message": shown,
            "chat_instance": str(-self.chat["id"]),
            "data": data,
        }
        return self.deliver({"callback_query": callback})
