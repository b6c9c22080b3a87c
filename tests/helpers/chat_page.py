"""The chat page in a real Chromium tab, as the browser tests and `make screenshots` drive it.

The tab records every host it talks to and aborts requests to any other than the bot's.
axe-core comes from node_modules (npm, pinned in package.json), never from a CDN.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Browser, Locator, Page, expect

from ops.settings import ROOT

AXE_SCRIPT = ROOT / "node_modules" / "axe-core" / "axe.min.js"
# WCAG 2.1 A and AA, and axe's best practices.
AXE_TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"]
DESKTOP = {"viewport": {"width": 1280, "height": 800}}
PHONE = {"viewport": {"width": 390, "height": 844}, "is_mobile": True, "has_touch": True}
REPLY_TIMEOUT_MS = 30_000


class ChatPage:
    """One tab on the chat page (a fresh browser context: its own storage and locale)."""

    def __init__(self, browser: Browser, url: str, **context_options) -> None:
        self.origin = urlsplit(url)
        options = {"locale": "en-GB", "timezone_id": "Europe/London", **PHONE, **context_options}
        self.context = browser.new_context(**options)
        self.off_host: list[str] = []
        self.problems: list[str] = []
        self.context.route("**/*", self._only_our_host)
        self.page: Page = self.context.new_page()
        self.page.on("websocket", lambda ws: self._check(ws.url))
        self.page.on("pageerror", lambda error: self.problems.append(str(error)))
        # CSP-blocked loads never become requests; Chromium reports them on the console.
        self.page.on("console", self._on_console)
        self.page.goto(f"{url}/chat/")

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

    @property
    def input(self) -> Locator:
        return self.page.get_by_role("textbox", name="Your question")

    def bot_reply(self, text: str) -> Locator:
        return self.page.locator(".msg.bot", has_text=text)

    def user_message(self, text: str) -> Locator:
        return self.page.locator(".msg.user", has_text=text)

    def wait_for_greeting(self, greeting: str) -> None:
        expect(self.bot_reply(greeting)).to_be_visible(timeout=REPLY_TIMEOUT_MS)

    def say(self, text: str) -> None:
        self.input.fill(text)
        self.input.press("Enter")

    def axe_violations(self) -> list[dict]:
        """axe-core's WCAG 2.1 AA and best-practice violations on the page as it is now."""
        # evaluate() runs outside the page's CSP, which allows no injected script.
        self.page.evaluate(AXE_SCRIPT.read_text(encoding="utf-8"))
        result = self.page.evaluate("tags => axe.run(document, {runOnly: tags})", AXE_TAGS)
        return [
            {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
            for v in result["violations"]
        ]

    def close(self) -> None:
        self.context.close()
