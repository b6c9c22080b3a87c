"""`make screenshots`: the chat page at 1280 px and 390 px, as README shows it.

Starts the trained bot on free ports (its own SQLite file), has a short conversation in
Debian's Chromium, and saves one PNG per screen size.
Usage: PYTHONPATH=tests python -m helpers.screenshots OUTPUT_DIR
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from playwright.sync_api import expect, sync_playwright

from helpers.browser import launch_chromium
from helpers.chat_page import DESKTOP, PHONE, REPLY_TIMEOUT_MS, ChatPage
from helpers.servers import OUTPUT_DIR, sqlite_bot

CONVERSATION = [
    "why does my upper back hurt after lifting",
    "I have chest pain",
    "does massage help",  # answered after a reminder to call
]
SIZES = {"desktop": DESKTOP, "phone": PHONE}


def take(output_dir: Path) -> list[Path]:
    output_dir.mkdir(parents=True, exist_ok=True)
    saved = []
    with (
        tempfile.TemporaryDirectory() as scratch,
        sqlite_bot(Path(scratch) / "conversations.db", OUTPUT_DIR / "logs" / "screenshots") as bot,
        sync_playwright() as playwright,
    ):
        browser = launch_chromium(playwright)
        for name, size in SIZES.items():
            chat = ChatPage(browser, bot.url, **size)
            expect(chat.page.locator(".msg.bot")).not_to_have_count(0, timeout=REPLY_TIMEOUT_MS)
            chat.say(CONVERSATION[0])
            expect(chat.page.locator(".source")).to_be_visible(timeout=REPLY_TIMEOUT_MS)
            chat.say(CONVERSATION[1])
            expect(chat.page.get_by_role("alert")).to_be_visible(timeout=REPLY_TIMEOUT_MS)
            chat.say(CONVERSATION[2])
            emergencies = chat.page.locator(".msg.bot.emergency")
            expect(emergencies).to_have_count(2, timeout=REPLY_TIMEOUT_MS)
            chat.input.blur()  # the page as a reader first sees it, not mid-typing
            path = output_dir / f"chat-{name}.png"
            chat.page.screenshot(path=str(path))
            saved.append(path)
            chat.close()
        browser.close()
    return saved


if __name__ == "__main__":
    for path in take(Path(sys.argv[1])):
        print(f"saved {path}")
