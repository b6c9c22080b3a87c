"""The Telegram channel end to end, offline.

The trained bot runs with our connector (bot/channels/telegram.py) pointed at a Telegram
Bot API emulator on loopback. Tests post real Telegram update JSON to the bot's webhook,
as Telegram would, and check what the emulator received through sendMessage.
"""

from __future__ import annotations

import itertools
import secrets
from concurrent.futures import ThreadPoolExecutor

import pytest
from helpers.servers import OUTPUT_DIR, sqlite_bot
from helpers.telegram_emulator import TelegramChat, TelegramEmulator
from helpers.workbench import feedback_rows

from bot.channels.telegram import ASK_REASON, FEEDBACK_BUTTONS, SECRET_HEADER
from bot.knowledge import section_title
from ops.launcher import BotServer, free_port

pytestmark = pytest.mark.bot

TOKEN = "123456:offline-test-token"
BOT_NAME = "TestNameBot"  # the username the emulator's getMe answers with
SECRET = secrets.token_urlsafe(32)
LIFTING_QUESTION = "why does my upper back hurt after lifting"
RED_FLAG = "my back hurts and I have chest pain"
chat_ids = itertools.count(1001)


@pytest.fixture(scope="module")
def emulator() -> TelegramEmulator:
    with TelegramEmulator(free_port()) as emulator:
        yield emulator


@pytest.fixture(scope="module")
def telegram_bot(emulator, tmp_path_factory) -> BotServer:
    """The bot with all its channels, Telegram configured from env vars as `make run` does."""
    rasa_port = free_port()
    environ = {
        "TELEGRAM_TOKEN": TOKEN,
        "TELEGRAM_BOT_NAME": BOT_NAME,
        "TELEGRAM_WEBHOOK_URL": f"http://127.0.0.1:{rasa_port}/webhooks/telegram/webhook",
        "TELEGRAM_SECRET_TOKEN": SECRET,
        "TELEGRAM_API_BASE_URL": emulator.api_url,
    }
    db = tmp_path_factory.mktemp("telegram") / "trackers.db"
    with sqlite_bot(db, OUTPUT_DIR / "logs" / "telegram", rasa_port, **environ) as server:
        server.webhook_url = environ["TELEGRAM_WEBHOOK_URL"]
        yield server


@pytest.fixture
def new_chat(emulator, telegram_bot):
    """Opens a new private chat with the bot, from a Telegram app in `language_code`."""
    return lambda language_code="en": TelegramChat(
        emulator, TOKEN, telegram_bot.webhook_url, SECRET, next(chat_ids), language_code
    )


def text_of(messages: list[dict]) -> str:
    # Rasa's Telegram output sends each paragraph of a long text as its own message.
    return "\n\n".join(message["text"] for message in messages)


def answered(entry) -> str:
    """A health answer as Telegram shows it: its source on the last line."""
    return f"{entry.answer.strip()}\nFrom the article: {section_title(entry.heading)}"


# The numbers line under the emergency reply: the local number first, when the app's
# language says where (data/safety/emergency_numbers.yml).
UK, US, AU, EU = "999 in the UK", "911 in the US and Canada", "000 in Australia", "112 in the EU"
ALL_NUMBERS = f"Emergency numbers: {UK}, {US}, {AU}, {EU}."
LOCAL_NUMBER = {
    "de": f"In the EU, call 112. Elsewhere: {UK}, {US}, {AU}.",
    "en-GB": f"In the UK, call 999. Elsewhere: {US}, {AU}, {EU}.",
    "en-us": f"In the US and Canada, call 911. Elsewhere: {UK}, {AU}, {EU}.",
    # English is spoken everywhere: no number is picked, all are listed.
    "en": ALL_NUMBERS,
    "pt-br": ALL_NUMBERS,
}


FEEDBACK_ROW = [(title, data) for title, data in FEEDBACK_BUTTONS]


def keyboard(message: dict) -> list[list[tuple[str, str]]]:
    rows = message["reply_markup"]["inline_keyboard"]
    return [[(button["text"], button["callback_data"]) for button in row] for row in rows]


def one_per_row(buttons: list[dict]) -> list[list[tuple[str, str]]]:
    return [[(button["title"], button["payload"])] for button in buttons]


def test_the_bot_registers_its_webhook_with_the_secret_token(telegram_bot, emulator):
    registered = emulator.webhooks()[-1]
    assert registered["botToken"] == TOKEN
    assert registered["url"] == telegram_bot.webhook_url
    assert registered["secret_token"] == SECRET


def test_lifting_question_gets_the_lifting_answer_with_its_follow_ups_as_keyboard(
    new_chat, knowledge, responses
):
    lifting = knowledge.entries["improper_lifting"]
    messages = new_chat().say(LIFTING_QUESTION)
    assert text_of(messages) == f"{responses['utter_disclaimer']}\n\n{answered(lifting)}"
    assert keyboard(messages[-1]) == [*one_per_row(knowledge.buttons(lifting)), FEEDBACK_ROW]


def test_a_thumbs_down_asks_what_was_wrong_and_is_stored_with_the_conversation(
    new_chat, knowledge, telegram_bot
):
    chat = new_chat()
    answer = chat.say(LIFTING_QUESTION)[-1]
    question = chat.tap(answer, "👎 Not helpful")
    assert [m["text"] for m in question] == [ASK_REASON]  # the assistant itself says nothing
    assert chat.tap(question[0], "Hard to read") == []
    stored = feedback_rows(telegram_bot.settings.database_url)[-2:]
    ratings = [(f["rating"], f["reason"]) for f in stored]
    assert ratings == [("down", None), ("down", "hard_to_read")]
    assert stored[0]["answer_timestamp"] == stored[1]["answer_timestamp"]
    # The conversation goes on as before.
    assert text_of(chat.say(LIFTING_QUESTION)) == answered(knowledge.entries["improper_lifting"])


@pytest.mark.parametrize("language_code", LOCAL_NUMBER.keys())
def test_red_flag_gets_the_emergency_reply_and_the_numbers_to_call(
    new_chat, responses, language_code
):
    messages = new_chat(language_code).say(RED_FLAG)
    assert [m["text"] for m in messages] == [
        responses["utter_emergency"],
        LOCAL_NUMBER[language_code],
    ]


def test_start_command_greets_with_the_topics_as_keyboard(new_chat, domain):
    [greeting] = new_chat().say("/start")
    expected = domain["responses"]["utter_greet"][0]
    assert greeting["text"] == expected["text"]
    assert keyboard(greeting) == one_per_row(expected["buttons"])


def test_a_tapped_button_and_a_duration_follow_up_continue_the_conversation(new_chat, knowledge):
    chat = new_chat()
    answer = chat.say(LIFTING_QUESTION)[-1]
    follow_up = knowledge.entries[knowledge.entries["improper_lifting"].follow_ups[0]]

    tapped = chat.tap(answer, follow_up.question)
    assert text_of(tapped) == answered(follow_up)
    assert keyboard(tapped[-1]) == [*one_per_row(knowledge.buttons(follow_up)), FEEDBACK_ROW]

    persistent_pain = knowledge.advice["persistent_pain"]
    recommendation = chat.say("it's been going on for 3 weeks")
    assert text_of(recommendation) == answered(persistent_pain)


@pytest.mark.parametrize(
    "update",
    [
        {"sticker": {"file_id": "CAACAgI", "file_unique_id": "AgAD", "type": "regular",
                     "width": 512, "height": 512, "is_animated": False, "is_video": False}},
        {"photo": [{"file_id": "AgACAgQ", "file_unique_id": "AQAD", "width": 90,
                    "height": 67, "file_size": 1260}]},
        {"voice": {"file_id": "AwACAgQ", "file_unique_id": "AgADvw", "duration": 2,
                   "mime_type": "audio/ogg", "file_size": 8041}},
    ],
    ids=["sticker", "photo", "voice"],
)  # fmt: skip
def test_non_text_messages_get_a_request_to_type(new_chat, responses, update):
    chat = new_chat()
    assert (
        text_of(chat.deliver({"message": chat.message(**update)})) == responses["utter_please_type"]
    )


def test_an_edited_message_gets_a_request_to_type(new_chat, responses):
    chat = new_chat()
    chat.say(LIFTING_QUESTION)
    edited = chat.message(text="why does my upper back hurt after running", edit_date=1)
    assert text_of(chat.deliver({"edited_message": edited})) == responses["utter_please_type"]


@pytest.mark.parametrize(
    "headers", [{}, {SECRET_HEADER: "wrong-secret"}], ids=["no token", "wrong token"]
)
def test_updates_without_the_secret_token_are_rejected_and_never_answered(
    new_chat, emulator, responses, knowledge, headers
):
    chat = new_chat()
    status = chat.post({"message": chat.message(text=LIFTING_QUESTION)}, headers)
    assert status == 403
    assert emulator.new_messages(TOKEN, chat.chat["id"]) == []
    # The rejected question never reached the assistant: its first answer still opens
    # with the disclaimer that starts every conversation.
    lifting = knowledge.entries["improper_lifting"]
    expected = f"{responses['utter_disclaimer']}\n\n{answered(lifting)}"
    assert text_of(chat.say(LIFTING_QUESTION)) == expected


def test_two_chats_at_once_keep_their_own_conversations(new_chat, knowledge, responses):
    first, second = new_chat(), new_chat()
    turns = [
        (LIFTING_QUESTION, RED_FLAG),
        ("it's been going on for 3 weeks", "should I use ice or heat"),
    ]

    def say_in_both(texts: tuple[str, str]) -> list[str]:
        with ThreadPoolExecutor(max_workers=2) as pool:
            return [text_of(sent) for sent in pool.map(TelegramChat.say, (first, second), texts)]

    replies = [say_in_both(texts) for texts in turns]
    disclaimer = responses["utter_disclaimer"]
    assert replies == [
        [f"{disclaimer}\n\n{answered(knowledge.entries['improper_lifting'])}",
         f"{responses['utter_emergency']}\n\n{ALL_NUMBERS}"],
        # The second chat neither skips the disclaimer nor hears of the first one's pain; it
        # is reminded of its own red flag.
        [answered(knowledge.advice["persistent_pain"]),
         f"{responses['utter_emergency_reminder']}\n\n{ALL_NUMBERS}\n\n{disclaimer}\n\n"
         f"{answered(knowledge.entries['ice_and_heat'])}"],
    ]  # fmt: skip


def test_button_payloads_fit_in_telegram_callback_data(knowledge, domain):
    entries = [*knowledge.entries.values(), *knowledge.advice.values()]
    buttons = [button for entry in entries for button in knowledge.buttons(entry)]
    buttons += [b for r in domain["responses"].values() for b in r[0].get("buttons", [])]
    assert buttons
    # Telegram refuses a whole message whose callback_data exceeds 64 bytes.
    assert max(len(button["payload"].encode()) for button in buttons) <= 64
