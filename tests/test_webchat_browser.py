"""The chat page in a real headless Chromium (Debian's), driven by Playwright.

The page, rasa-webchat and the socket all come from the running bot; the browser is offline
in effect: any request to another host is recorded and aborted.
"""

from __future__ import annotations

import urllib.request
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from helpers.servers import OUTPUT_DIR
from playwright.sync_api import Page, expect, sync_playwright

from ops.settings import current

pytestmark = pytest.mark.browser

CHROMIUM = Path("/usr/bin/chromium")
# What Chromium needs to run headless as root on a server, offline and quietly.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
LIFTING_QUESTION = "why does my upper back hurt after lifting"
RED_FLAG = "my back hurts and I have chest pain"
REPLY_TIMEOUT_MS = 30_000


@pytest.fixture(scope="module")
def browser():
    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: `make test` installs Debian's chromium")
    with sync_playwright() as playwright:
        # launch() gives every run a fresh temporary --user-data-dir.
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class ChatPage:
    """A phone-sized tab on the chat page that records every host it talks to."""

    def __init__(self, browser, bot) -> None:
        self.origin = urlsplit(bot.url)
        self.context = browser.new_context(**PHONE)
        self.off_host: list[str] = []
        self.problems: list[str] = []
        self.context.route("**/*", self._only_our_host)
        self.page: Page = self.context.new_page()
        self.page.on("websocket", lambda ws: self._check(ws.url))
        self.page.on("pageerror", lambda error: self.problems.append(str(error)))
        # CSP-blocked loads never become requests; Chromium reports them on the console.
        self.page.on("console", self._on_console)
        self.page.goto(f"{bot.url}/chat/")

    def _check(self, url: str) -> bool:
        parts = urlsplit(url)
        if parts.scheme in ("data", "blob"):
            return True
        if parts.netloc != self.origin.netloc:
            self.off_host.append(url)
            return False
        return True

    def _only_our_host(self, route) -> None:
        if self._check(route.request.url):
            route.continue_()
        else:
            route.abort()

    def _on_console(self, message) -> None:
        if message.type == "error":
            self.problems.append(message.text[:300])

    def reply(self, text: str, css: str = ".rw-response"):
        return self.page.locator(css, has_text=text)

    def say(self, text: str) -> None:
        box = self.page.locator(".rw-new-message")
        box.fill(text)
        box.press("Enter")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def chat_page(browser, bot):
    chat = ChatPage(browser, bot)
    yield chat
    chat.close()


def test_a_conversation_in_the_browser(chat_page, knowledge, responses):
    page = chat_page.page
    expect(page).to_have_title("Upper back spasm assistant")
    expect(page.locator(".intro")).to_be_visible()
    expect(page.locator(".note")).to_contain_text("not a diagnosis")
    expect(page.get_by_role("button", name="Start over")).to_be_visible()
    expect(chat_page.reply(responses["utter_greet"])).to_be_visible(timeout=REPLY_TIMEOUT_MS)

    chat_page.say(LIFTING_QUESTION)
    lifting = knowledge.entries["improper_lifting"]
    expect(chat_page.reply(responses["utter_disclaimer"])).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    expect(chat_page.reply(lifting.answer)).to_be_visible(timeout=REPLY_TIMEOUT_MS)

    # Tap a quick reply: the follow-up question's own answer comes back.
    button = knowledge.buttons(lifting)[1]
    page.locator(".rw-reply", has_text=button["title"]).tap()
    tapped = knowledge.entries[lifting.follow_ups[1]]
    expect(page.locator(".rw-client", has_text=button["title"])).to_be_visible()
    expect(chat_page.reply(tapped.answer)).to_be_visible(timeout=REPLY_TIMEOUT_MS)

    chat_page.say(RED_FLAG)
    emergency = chat_page.reply(responses["utter_emergency"], ".rw-response.rw-emergency")
    expect(emergency).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    ordinary = chat_page.reply(tapped.answer)
    background = "el => getComputedStyle(el).backgroundColor"
    assert emergency.evaluate(background) != ordinary.evaluate(background)

    page.reload()
    for text in (LIFTING_QUESTION, lifting.answer, tapped.answer):
        expect(page.locator(".rw-messages-container", has_text=text)).to_have_count(1)
    expect(emergency).to_be_visible(timeout=REPLY_TIMEOUT_MS)

    # Phone-sized: no sideways scrolling, the input and the note fit on the screen.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["viewport"]["width"]
    for part in (".rw-new-message", ".note"):
        box = page.locator(part).bounding_box()
        assert box["y"] + box["height"] <= PHONE["viewport"]["height"]
    page.screenshot(path=str(OUTPUT_DIR / "webchat.png"))
    assert chat_page.problems == []


def test_start_over_begins_a_new_conversation(chat_page, responses):
    page = chat_page.page
    expect(chat_page.reply(responses["utter_greet"])).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    chat_page.say(RED_FLAG)
    expect(chat_page.reply(responses["utter_emergency"])).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    first_session = page.evaluate("JSON.parse(localStorage.chat_session).session_id")

    page.get_by_role("button", name="Start over").click()
    expect(chat_page.reply(responses["utter_greet"])).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    expect(chat_page.reply(responses["utter_emergency"])).to_have_count(0)
    assert page.evaluate("JSON.parse(localStorage.chat_session).session_id") != first_session


def test_an_overlong_message_gets_a_plain_reply(chat_page, responses):
    expect(chat_page.reply(responses["utter_greet"])).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    chat_page.say("a" * (current().limits.max_message_chars + 1))
    reply = chat_page.reply(responses["utter_message_too_long"])
    expect(reply).to_be_visible(timeout=REPLY_TIMEOUT_MS)


def test_the_page_loads_nothing_from_other_hosts(chat_page, bot, knowledge):
    page = chat_page.page
    chat_page.say(LIFTING_QUESTION)
    answer = knowledge.entries["improper_lifting"].answer
    expect(chat_page.reply(answer)).to_be_visible(timeout=REPLY_TIMEOUT_MS)
    page.reload()
    expect(chat_page.reply(answer)).to_be_visible(timeout=REPLY_TIMEOUT_MS)

    assert chat_page.off_host == []
    assert chat_page.problems == []  # includes loads the page's CSP refused
    with urllib.request.urlopen(f"{bot.url}/chat/") as response:
        assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    with urllib.request.urlopen(f"{bot.url}/chat/rasa-webchat.js") as response:
        assert b"@import url(http" not in response.read()
