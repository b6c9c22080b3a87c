"""Telegram channel: Rasa's connector, made testable offline and safe to expose.

Rasa 3.6's connector always talks to api.telegram.org, accepts any POST to its webhook
and silently drops messages that are not text. This one, named in credentials.yml and
configured from the environment (ops/settings.py: TELEGRAM_*; without them it is off):
- takes an optional `api_base_url`, so tests run the whole path against a Bot API emulator;
- registers the webhook with a secret token and answers 403 to requests without it;
- sends non-text messages (stickers, photos, voice, edits) to the assistant as the
  `non_text_message` intent, so the reply's wording stays in domain.yml;
- shows buttons as an inline keyboard, one per row, and takes a tap as the user's answer;
- ends a health answer with its source ("From the article: ..."), and follows the emergency
  reply with the emergency numbers, the local one first, picked from the user's Telegram
  language (`language_code`, sent to the assistant as the message's `locale`);
- passes the chat id and the text through bot.channels.input_policy, and answers within
  the reply deadline (bot.channels.reply_guard), like the other channels;
- puts "👍 Helpful / 👎 Not helpful" under every health answer; a 👎 asks "What was
  wrong?" (optional). The taps are cleaned by the input policy and stored with the
  conversation in the tracker store; they never reach the assistant.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import secrets
from collections.abc import Awaitable, Callable
from typing import Any

from aiogram import Bot
from aiogram.bot.api import TELEGRAM_PRODUCTION, TelegramAPIServer
from aiogram.types import InlineKeyboardButton, InlineKeyboardMarkup, Update
from aiogram.utils.exceptions import TelegramAPIError
from rasa.core.channels import telegram
from rasa.core.channels.channel import UserMessage
from rasa.shared.exceptions import RasaException
from sanic import Blueprint, response
from sanic.request import Request
from sanic.response import HTTPResponse

from bot.channels import input_policy
from bot.channels.reply_guard import answer_in_time
from bot.channels.server import configure_server
from bot.channels.webchat import store_feedback
from bot.emergency import numbers_line
from ops.settings import Telegram, current

logger = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
# Payloads the assistant's rules answer; they skip NLU like a button tap does.
NON_TEXT_MESSAGE = "/non_text_message"
GREET = "/greet"
# Telegram clients send /start when a user opens the bot for the first time.
START_COMMAND = "/start"
ALLOWED_UPDATES = ["message", "edited_message", "callback_query"]
# Callback data of the feedback buttons: "feedback:up", "feedback:down",
# "feedback:down:<reason>".
FEEDBACK_PREFIX = "feedback:"
SOURCE_LINE = "\nFrom the article: "
FEEDBACK_BUTTONS = [("👍 Helpful", "feedback:up"), ("👎 Not helpful", "feedback:down")]
REASON_BUTTONS = [("Wrong topic", "wrong_topic"), ("Didn't answer", "no_answer"),
                  ("Hard to read", "hard_to_read"), ("Other", "other")]  # fmt: skip
ASK_REASON = "Thanks. What was wrong? (optional)"
THANKS = "Thanks for telling us."


def with_metadata_lines(text: str, metadata: dict[str, Any] | None) -> str:
    """`text` with what its response metadata says, in words: Telegram shows only text."""
    metadata = metadata or {}
    if metadata.get("sources"):
        text = f"{text.strip()}\nFrom the article: {' · '.join(metadata['sources'])}"
    if metadata.get("emergency"):
        text = f"{text.strip()}\n\n{numbers_line(metadata['emergency'])}"
    return text


class TelegramOutput(telegram.TelegramOutput):
    """Rasa's Telegram output, on a Bot API server of our choice."""

    def __init__(self, access_token: str, api_base_url: str | None = None) -> None:
        server = TelegramAPIServer.from_base(api_base_url) if api_base_url else TELEGRAM_PRODUCTION
        # Rasa's __init__ cannot pass a server, so initialise the aiogram Bot directly.
        Bot.__init__(self, access_token, server=server)

    async def send_text_message(self, recipient_id: str, text: str, **kwargs: Any) -> None:
        if (kwargs.get("metadata") or {}).get("sources"):
            return await self.send_text_with_buttons(recipient_id, text, [], **kwargs)
        text = with_metadata_lines(text, kwargs.get("metadata"))
        await super().send_text_message(recipient_id, text, **kwargs)

    async def send_text_with_buttons(
        self,
        recipient_id: str,
        text: str,
        buttons: list[dict[str, Any]],
        button_type: str | None = None,
        **kwargs: Any,
    ) -> None:
        # Follow-up questions are too long to sit side by side on a phone: one per row.
        text = with_metadata_lines(text, kwargs.get("metadata"))
        if not (kwargs.get("metadata") or {}).get("sources"):
            return await super().send_text_with_buttons(
                recipient_id, text, buttons, button_type or "vertical", **kwargs
            )
        # A health answer: its follow-ups, then "Helpful?" in one row.
        markup = InlineKeyboardMarkup()
        for button in buttons:
            markup.row(InlineKeyboardButton(button["title"], callback_data=button["payload"]))
        markup.row(*(InlineKeyboardButton(t, callback_data=d) for t, d in FEEDBACK_BUTTONS))
        await self.send_message(recipient_id, text, reply_markup=markup)

    async def ask_reason(self, recipient_id: str) -> None:
        markup = InlineKeyboardMarkup()
        for title, reason in REASON_BUTTONS:
            markup.row(InlineKeyboardButton(title, callback_data=f"{FEEDBACK_PREFIX}down:{reason}"))
        await self.send_message(recipient_id, ASK_REASON, reply_markup=markup)


class TelegramInput(telegram.TelegramInput):
    """Telegram webhook that only Telegram (holding the secret token) can call."""

    @classmethod
    def from_credentials(cls, credentials: dict[str, Any] | None) -> TelegramInput:
        # Configured from the environment, so `rasa run` and `make run` agree.
        settings = current().telegram
        if settings is None:
            return cls(None)
        return cls(settings)

    def __init__(self, settings: Telegram | None) -> None:
        self.settings = settings
        if settings is None:
            return
        super().__init__(settings.token, settings.bot_name, settings.webhook_url, debug_mode=False)
        # Without a configured secret a fresh one still locks the webhook: every start
        # hands it to Telegram through setWebhook.
        self.secret_token = settings.secret_token or secrets.token_urlsafe(32)

    def get_output_channel(self) -> TelegramOutput:
        return TelegramOutput(self.access_token, self.settings.api_base_url)

    async def register_webhook(self) -> None:
        """Check the token belongs to the bot named `verify`, then point Telegram here."""
        bot = self.get_output_channel()
        try:
            me = await bot.get_me()
            if me.username != self.verify:
                raise RasaException(
                    f"The Telegram token belongs to @{me.username}, not @{self.verify}."
                )
            # aiogram 2.15's set_webhook predates `secret_token`: call the method directly.
            await bot.request(
                "setWebhook",
                {
                    "url": self.webhook_url,
                    "secret_token": self.secret_token,
                    "allowed_updates": json.dumps(ALLOWED_UPDATES),
                },
            )
        except TelegramAPIError as error:
            raise RasaException(f"Could not set the Telegram webhook: {error}") from error
        finally:
            # The session belongs to this short-lived event loop; the server makes its own.
            await bot.close()
        logger.info("Telegram webhook set to %s", self.webhook_url)

    def blueprint(self, on_new_message: Callable[[UserMessage], Awaitable[Any]]) -> Blueprint:
        telegram_webhook = Blueprint("telegram_webhook", __name__)
        configure_server(telegram_webhook)
        if self.settings is None:
            logger.info("Telegram is off: TELEGRAM_TOKEN, _BOT_NAME and _WEBHOOK_URL are not set.")

            @telegram_webhook.route("/webhook", methods=["POST"])
            async def off(_: Request) -> HTTPResponse:
                return response.json({"error": "Telegram is not configured."}, status=404)

            return telegram_webhook

        # Rasa builds blueprints before its event loop starts, as its own connector does.
        asyncio.run(self.register_webhook())
        out_channel = self.get_output_channel()
        deadline = current().limits.reply_deadline_seconds

        @telegram_webhook.route("/", methods=["GET"])
        async def health(_: Request) -> HTTPResponse:
            return response.json({"status": "ok"})

        @telegram_webhook.route("/webhook", methods=["POST"])
        async def receive(request: Request) -> HTTPResponse:
            token = request.headers.get(SECRET_HEADER, "")
            if not hmac.compare_digest(token.encode(), self.secret_token.encode()):
                return response.text("forbidden", status=403)
            if not isinstance(request.json, dict):
                return response.text("the body must be a Telegram update object", status=400)
            try:
                update = Update(**request.json)
                if is_feedback(update):
                    agent = getattr(request.app.ctx, "agent", None)
                    await self.take_feedback(update, out_channel, agent)
                    return response.text("success")
                chat_and_text = await self.user_input(update, out_channel)
            except Exception as error:  # noqa: BLE001 - a malformed update is dropped
                # Telegram re-sends an update until it gets a 200: that would repeat the error.
                logger.warning("Dropped a Telegram update: %s", type(error).__name__)
                return response.text("success")
            if chat_and_text is not None:
                chat_id, text = chat_and_text
                message = UserMessage(
                    text,
                    out_channel,
                    chat_id,
                    input_channel=self.name(),
                    metadata=self.user_metadata(update),
                )
                agent = getattr(request.app.ctx, "agent", None)
                await answer_in_time(on_new_message, message, agent, deadline)
            return response.text("success")

        return telegram_webhook

    @staticmethod
    async def take_feedback(update: Update, out_channel: TelegramOutput, agent: Any) -> None:
        """Store a 👍/👎 (or a 👎's reason) with the conversation; ask why after a 👎."""
        query = update.callback_query
        chat = input_policy.sender_id(query.message.chat.id)
        rating, _, reason = query.data.removeprefix(FEEDBACK_PREFIX).partition(":")
        if reason:
            # A reason answers the question sent after a 👎: it goes with that 👎.
            rating, reason = input_policy.rating_and_reason(rating, reason)
            stored = await store_feedback(agent, chat, rating, reason, None)
        else:
            # The rated answer is the message the buttons are under, without its source line.
            answer = (query.message.text or "").split(SOURCE_LINE)[0]
            rating, _, answer = input_policy.feedback(rating, None, answer)
            stored = await store_feedback(agent, chat, rating, None, answer)
        await out_channel.answer_callback_query(query.id, text=THANKS if stored else None)
        if stored and rating == "down" and not reason:
            await out_channel.ask_reason(chat)

    @staticmethod
    def user_metadata(update: Update) -> dict[str, str] | None:
        """The user's Telegram language as the message's locale: it picks the local number."""
        sent = update.callback_query or update.message or update.edited_message
        language = sent.from_user.language_code if sent and sent.from_user else None
        if not language:
            return None
        try:
            return input_policy.metadata({"locale": language})
        except input_policy.RefusedInput:
            return None  # a code we cannot read only costs the local number

    @staticmethod
    async def user_input(update: Update, out_channel: TelegramOutput) -> tuple[str, str] | None:
        """The chat and what the user said in it, or None for updates with no chat.

        RefusedInput when the chat id is not one we can store.
        """
        limits = current().limits
        if update.callback_query is not None:
            query = update.callback_query
            # Stops the spinner on the tapped button.
            await out_channel.answer_callback_query(query.id)
            if query.message is None:
                return None
            # Button data comes back from the client: it is checked like typed text.
            text = input_policy.message_text(query.data or "", limits)
            return input_policy.sender_id(query.message.chat.id), text
        message = update.message
        if message is not None and message.text is not None:
            chat = input_policy.sender_id(message.chat.id)
            if message.text.partition(" ")[0] == START_COMMAND:
                return chat, GREET
            return chat, input_policy.message_text(message.text, limits)
        # Stickers, photos, voice and edits of earlier messages.
        message = message or update.edited_message
        if message is None:
            return None
        return input_policy.sender_id(message.chat.id), NON_TEXT_MESSAGE


def is_feedback(update: Update) -> bool:
    query = update.callback_query
    return bool(query and query.message and (query.data or "").startswith(FEEDBACK_PREFIX))
