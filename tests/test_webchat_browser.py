"""The chat page in a real headless Chromium (Debian's), driven by Playwright.

The page, socket.io-client and the socket all come from the running bot; the browser is
offline in effect: any request to another host is recorded and aborted.
"""

from __future__ import annotations

import os
import signal
import urllib.request

import pytest
from helpers.chat_page import DESKTOP, PHONE, REPLY_TIMEOUT_MS, ChatPage
from helpers.servers import OUTPUT_DIR, sqlite_bot
from playwright.sync_api import expect

from bot.emergency import emergency_numbers
from bot.knowledge import section_title
from ops.settings import current

pytestmark = pytest.mark.browser

LIFTING_QUESTION = "why does my upper back hurt after lifting"
RED_FLAG = "my back hurts and I have chest pain"
MAX_CHARS = current().limits.max_message_chars
TOUCH_TARGET_PX = 44


@pytest.fixture
def open_chat(browser, bot):
    pages: list[ChatPage] = []

    def open_page(**options) -> ChatPage:
        pages.append(ChatPage(browser, bot.url, **options))
        return pages[-1]

    yield open_page
    for chat in pages:
        chat.close()


@pytest.fixture
def chat_page(open_chat, responses):
    chat = open_chat()
    chat.wait_for_greeting(responses["utter_greet"])
    return chat


def source_line(entry) -> str:
    return f"From the article: {section_title(entry.heading)}"


def test_a_conversation_in_the_browser(chat_page, knowledge, responses):
    page = chat_page.page
    expect(page).to_have_title("Upper back spasm assistant")
    expect(page.locator(".intro")).to_be_visible()
    expect(page.locator(".note")).to_contain_text("not a diagnosis")

    chat_page.say(LIFTING_QUESTION)
    lifting = knowledge.entries["improper_lifting"]
    expect(chat_page.bot_reply(responses["utter_disclaimer"])).to_be_visible(
        timeout=REPLY_TIMEOUT_MS
    )
    answer = chat_page.bot_reply(lifting.answer)
    expect(answer).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    # The source is a caption under the answer, taken from the entry's article heading.
    expect(answer.locator(".source")).to_have_text(source_line(lifting))
    expect(chat_page.bot_reply(responses["utter_disclaimer"]).locator(".source")).to_have_count(0)

    # Tap a quick reply: the follow-up question's own answer comes back.
    button = knowledge.buttons(lifting)[1]
    page.get_by_role("button", name=button["title"]).tap()
    tapped = knowledge.entries[lifting.follow_ups[1]]
    expect(chat_page.user_message(button["title"])).to_be_visible()
    expect(chat_page.bot_reply(tapped.answer)).to_be_visible(timeout=REPLY_TIMEOUT_MS)

    chat_page.say(RED_FLAG)
    emergency = page.get_by_role("alert")
    expect(emergency).to_contain_text(responses["utter_emergency"], timeout=REPLY_TIMEOUT_MS)
    ordinary = chat_page.bot_reply(tapped.answer).locator(".bubble")
    background = "el => getComputedStyle(el).backgroundColor"
    assert emergency.locator(".bubble").evaluate(background) != ordinary.evaluate(background)

    page.reload()
    for text in (LIFTING_QUESTION, lifting.answer, tapped.answer, responses["utter_emergency"]):
        expect(page.locator(".msg", has_text=text)).to_have_count(1)
    expect(page.get_by_role("link", name="Call 999")).to_be_visible()
    assert chat_page.problems == []


@pytest.mark.parametrize("size", [DESKTOP, PHONE], ids=["1280px", "390px"])
def test_axe_finds_no_violations(open_chat, responses, knowledge, size):
    chat = open_chat(**size)
    chat.wait_for_greeting(responses["utter_greet"])
    assert chat.axe_violations() == [], "chat open"

    chat.say(LIFTING_QUESTION)
    expect(chat.bot_reply(knowledge.entries["improper_lifting"].answer)).to_be_visible(
        timeout=REPLY_TIMEOUT_MS
    )
    assert chat.axe_violations() == [], "after a conversation"

    chat.say(RED_FLAG)
    expect(chat.page.get_by_role("alert")).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    assert chat.axe_violations() == [], "after an emergency reply"

    # Every later reply starts by reminding the person to call, with the same call links.
    chat.say(LIFTING_QUESTION)
    reminder = chat.bot_reply(responses["utter_emergency_reminder"])
    expect(reminder).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    expect(reminder.get_by_role("link", name="Call 999")).to_be_visible()
    assert chat.axe_violations() == [], "after the reminder"

    chat.page.get_by_role("button", name="Start over").click()
    expect(chat.page.get_by_role("dialog")).to_be_visible()
    assert chat.axe_violations() == [], "asking before starting over"


FOCUS_RING = (
    "(() => { const s = getComputedStyle(document.activeElement);"
    " return [s.outlineStyle, parseFloat(s.outlineWidth)]; })()"
)


def focused(page) -> str:
    return page.evaluate(
        "(() => { const el = document.activeElement;"
        " return el.getAttribute('aria-label') || el.textContent.trim() || el.id; })()"
    )


def test_keyboard_only(open_chat, responses, knowledge, domain):
    chat = open_chat(**DESKTOP)
    chat.wait_for_greeting(responses["utter_greet"])
    page = chat.page
    greeting_buttons = [b["title"] for b in domain["responses"]["utter_greet"][0]["buttons"]]

    # Tab from the top: Start over, the conversation, its suggestions, then the input.
    order, rings = [], []
    for _ in range(2 + len(greeting_buttons) + 1):
        page.keyboard.press("Tab")
        order.append(focused(page))
        rings.append(page.evaluate(FOCUS_RING))
    assert order == ["Start over", "Conversation", *greeting_buttons, "message"]
    assert all(style != "none" and width >= 2 for style, width in rings), "visible focus rings"

    page.keyboard.type(LIFTING_QUESTION)
    page.keyboard.press("Enter")
    lifting = knowledge.entries["improper_lifting"]
    expect(chat.bot_reply(lifting.answer)).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    expect(chat.input).to_be_focused()

    # The newest suggestions sit just above the input: one Shift+Tab away.
    page.keyboard.press("Shift+Tab")
    follow_up = knowledge.buttons(lifting)[-1]
    assert focused(page) == follow_up["title"]
    style, width = page.evaluate(FOCUS_RING)
    assert style != "none" and width >= 2, "a visible focus ring on the quick reply"
    page.keyboard.press("Space")
    chosen = knowledge.entries[lifting.follow_ups[-1]]
    expect(chat.user_message(follow_up["title"])).to_be_visible()
    expect(chat.bot_reply(chosen.answer)).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    assert chat.problems == []


def test_an_undelivered_message_is_kept_and_can_be_retried(chat_page, knowledge):
    page = chat_page.page
    chat_page.context.set_offline(True)
    banner = page.locator("#connection")
    expect(banner).to_contain_text("Reconnecting")

    chat_page.say(LIFTING_QUESTION)
    sent = chat_page.user_message(LIFTING_QUESTION)
    retry = sent.get_by_role("button", name="Not sent – tap to retry")
    expect(retry).to_be_visible()
    expect(sent).to_contain_text(LIFTING_QUESTION)
    assert chat_page.axe_violations() == []

    chat_page.context.set_offline(False)
    expect(banner).to_be_hidden(timeout=REPLY_TIMEOUT_MS)
    retry.tap()
    expect(chat_page.bot_reply(knowledge.entries["improper_lifting"].answer)).to_be_visible(
        timeout=REPLY_TIMEOUT_MS
    )
    expect(retry).to_have_count(0)
    expect(chat_page.user_message(LIFTING_QUESTION)).to_have_count(1)


def test_an_overlong_message_is_held_back_with_the_reason(chat_page):
    page = chat_page.page
    counter = page.locator("#counter")
    expect(page.locator("#limits")).to_contain_text(f"Up to {MAX_CHARS} characters")
    chat_page.input.fill("a" * MAX_CHARS)
    expect(counter).to_have_text(f"{MAX_CHARS} / {MAX_CHARS}")

    too_long = "a" * (MAX_CHARS + 5)
    chat_page.say(too_long)
    expect(counter).to_have_text(f"{MAX_CHARS + 5} / {MAX_CHARS}: 5 too many")
    expect(page.get_by_role("status").filter(has_text="too long")).to_contain_text(
        f"5 characters too long. Please shorten it to {MAX_CHARS} or fewer."
    )
    expect(chat_page.input).to_have_value(too_long)
    expect(chat_page.input).to_have_attribute("aria-invalid", "true")
    expect(page.locator(".msg.user")).to_have_count(0)


def test_a_message_the_server_refuses_shows_why_next_to_it(open_chat, responses):
    chat = open_chat()
    chat.wait_for_greeting(responses["utter_greet"])
    # A browser whose language the input policy cannot read: the server refuses the message.
    chat.page.evaluate("Object.defineProperty(navigator, 'language', {get: () => 'not valid'})")
    chat.say(LIFTING_QUESTION)
    refused = chat.user_message(LIFTING_QUESTION)
    expect(refused.get_by_role("button")).to_have_text(
        "Not sent: The metadata value for locale is not valid. Tap to retry."
    )


# A phone with its keyboard open (320 x 568, less a 260 px keyboard), and a 1280 x 800
# screen at 200% zoom: the CSS viewport each gives the page.
SHORT_VIEWPORTS = {
    "320px-keyboard-open": {**PHONE, "viewport": {"width": 320, "height": 308}},
    "200%-zoom": {"viewport": {"width": 640, "height": 400}, "device_scale_factor": 2},
}


def box(page, selector: str) -> dict:
    return page.locator(selector).first.bounding_box()


@pytest.mark.parametrize("size", SHORT_VIEWPORTS.values(), ids=SHORT_VIEWPORTS.keys())
def test_small_screens_give_the_messages_the_room(open_chat, responses, knowledge, size):
    chat = open_chat(**size)
    chat.wait_for_greeting(responses["utter_greet"])
    page = chat.page
    width, height = size["viewport"]["width"], size["viewport"]["height"]
    expect(page.locator(".intro")).to_be_visible()
    chat.say(LIFTING_QUESTION)
    expect(chat.bot_reply(knowledge.entries["improper_lifting"].answer)).to_be_visible(
        timeout=REPLY_TIMEOUT_MS
    )

    # Once chatting, the heading and the footer collapse to a line each.
    expect(page.locator(".intro")).to_be_hidden()
    header, footer, log = box(page, ".page-header"), box(page, ".note"), box(page, "#log")
    composer = box(page, "#composer")
    assert page.evaluate("document.documentElement.scrollWidth") <= width, "no sideways scroll"
    assert header["height"] + footer["height"] <= 0.3 * height
    assert log["height"] >= 0.5 * height
    assert composer["y"] + composer["height"] <= height, "the input stays on screen"

    targets = page.locator("button:visible, a:visible, textarea")
    for i in range(targets.count()):
        target = targets.nth(i).bounding_box()
        name = targets.nth(i).text_content()
        assert min(target["width"], target["height"]) >= TOUCH_TARGET_PX, name
    line = chat.bot_reply(knowledge.entries["improper_lifting"].answer).locator(".bubble")
    ratio = line.evaluate(
        "el => { const s = getComputedStyle(el);"
        " return parseFloat(s.lineHeight) / parseFloat(s.fontSize); }"
    )
    assert 1.4 <= ratio <= 1.5
    page.screenshot(path=str(OUTPUT_DIR / f"webchat-{width}x{height}.png"))


TAP_TO_CALL = {
    "en-GB, London": ("en-GB", "Europe/London", "999"),
    "en-US, Chicago": ("en-US", "America/Chicago", "911"),
    "fr-CA, Toronto": ("fr-CA", "America/Toronto", "911"),
    "en-AU, Sydney": ("en-AU", "Australia/Sydney", "000"),
    "de-DE, Berlin": ("de-DE", "Europe/Berlin", "112"),
    # The time zone says where the device is; an en-US browser in London calls 999.
    "en-US, London": ("en-US", "Europe/London", "999"),
    "en-AU, UTC": ("en-AU", "UTC", "000"),
}


@pytest.mark.parametrize("case", TAP_TO_CALL.values(), ids=TAP_TO_CALL.keys())
def test_the_emergency_reply_offers_the_local_number_to_call(open_chat, responses, case):
    locale, time_zone, number = case
    chat = open_chat(locale=locale, timezone_id=time_zone)
    chat.wait_for_greeting(responses["utter_greet"])
    chat.say(RED_FLAG)
    alert = chat.page.get_by_role("alert")
    expect(alert).to_contain_text(responses["utter_emergency"], timeout=REPLY_TIMEOUT_MS)
    links = alert.get_by_role("link")
    expect(links.first).to_have_attribute("href", f"tel:{number}")
    expect(links.first).to_have_class("call")
    others = [n.number for n in emergency_numbers() if n.number != number]
    expect(alert.locator(".call-other")).to_have_count(len(others))
    for other in others:
        expect(alert.get_by_role("link", name=f"Call {other}")).to_have_attribute(
            "href", f"tel:{other}"
        )


def test_without_a_known_place_every_number_is_offered_alike(open_chat, responses):
    chat = open_chat(locale="en", timezone_id="UTC")
    chat.wait_for_greeting(responses["utter_greet"])
    chat.say(RED_FLAG)
    alert = chat.page.get_by_role("alert")
    expect(alert).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    hrefs = [link.get_attribute("href") for link in alert.get_by_role("link").all()]
    assert hrefs == [f"tel:{n.number}" for n in emergency_numbers()]
    expect(alert.locator(".call-other")).to_have_count(0)


def test_start_over_asks_first(chat_page, responses):
    page = chat_page.page
    chat_page.say(RED_FLAG)
    expect(page.get_by_role("alert")).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    first_session = page.evaluate("JSON.parse(localStorage['upper-back-chat']).session_id")

    page.get_by_role("button", name="Start over").click()
    dialog = page.get_by_role("dialog", name="Start a new conversation?")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_role("button", name="Keep this conversation")).to_be_focused()
    page.keyboard.press("Escape")
    expect(dialog).to_be_hidden()
    expect(page.get_by_role("alert")).to_be_visible()

    page.get_by_role("button", name="Start over").click()
    dialog.get_by_role("button", name="Start over").click()
    chat_page.wait_for_greeting(responses["utter_greet"])
    expect(page.locator(".emergency")).to_have_count(0)
    expect(page.locator(".intro")).to_be_visible()
    new_session = page.evaluate("JSON.parse(localStorage['upper-back-chat']).session_id")
    assert new_session not in (None, first_session)


def test_the_page_loads_nothing_from_other_hosts(chat_page, bot, knowledge):
    page = chat_page.page
    chat_page.say(LIFTING_QUESTION)
    answer = knowledge.entries["improper_lifting"].answer
    expect(chat_page.bot_reply(answer)).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    page.reload()
    expect(chat_page.bot_reply(answer)).to_be_visible(timeout=REPLY_TIMEOUT_MS)

    assert chat_page.off_host == []
    assert chat_page.problems == []  # includes loads the page's CSP refused
    with urllib.request.urlopen(f"{bot.url}/chat/") as response:
        policy = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in policy and "unsafe-inline" not in policy
        assert f'data-max-chars="{MAX_CHARS}"' in response.read().decode()


@pytest.fixture
def bot_with_hung_actions(tmp_path):
    with sqlite_bot(tmp_path / "conversations.db", OUTPUT_DIR / "logs" / "webchat-hung") as bot:
        actions = bot.supervisor.process("actions")
        os.killpg(actions.pid, signal.SIGSTOP)
        try:
            yield bot
        finally:
            os.killpg(actions.pid, signal.SIGCONT)


def test_the_emergency_reply_needs_no_action_server(browser, bot_with_hung_actions, responses):
    chat = ChatPage(browser, bot_with_hung_actions.url)
    try:
        chat.wait_for_greeting(responses["utter_greet"])
        chat.say(RED_FLAG)
        alert = chat.page.get_by_role("alert")
        expect(alert).to_contain_text(responses["utter_emergency"], timeout=REPLY_TIMEOUT_MS)
        expect(alert.get_by_role("link").first).to_have_attribute("href", "tel:999")
    finally:
        chat.close()
