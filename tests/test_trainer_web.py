"""The web workbench in a real headless Chromium, and its password protection."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid

import pytest
from helpers.servers import wait_until_up
from helpers.trainer_projects import project_with_model, snapshot
from playwright.sync_api import expect, sync_playwright

from ops.launcher import ROOT, SERVER_ENV, free_port
from trainer.examples import read_examples

pytestmark = pytest.mark.browser

PASSWORD = f"pw-{uuid.uuid4().hex}"
UNCLEAR = "flibber jabberwock snorkelgrum"  # lands in the inbox through the fallback
NEW_EXAMPLE = "would a heat pack on my shoulder blades calm it down"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update",
                 "--disable-sync"]  # fmt: skip


def start_workbench(project, db_url: str, env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "trainer", "--root", str(project.root), "--db", db_url,
         "web", *args],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip


def clean_env() -> dict:
    env = {**os.environ, **SERVER_ENV}
    env.pop("TRAINER_PASSWORD", None)
    return env


@pytest.fixture
def workbench(bot, rest, tmp_path):
    rest.send(f"trainer-web-{uuid.uuid4().hex[:8]}", UNCLEAR)
    project = project_with_model(tmp_path / "bot")
    port = free_port()
    db_url = bot.settings.database_url
    env = {**clean_env(), "TRAINER_PASSWORD": PASSWORD}
    process = start_workbench(project, db_url, env, "--port", str(port))
    try:
        assert process.stdout.readline().strip() == f"Trainer workbench: http://localhost:{port}/"
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/login", process, timeout=30)
        yield url, project
    finally:
        process.terminate()
        process.wait(timeout=10)


def request(url: str, method: str = "GET", body: bytes | None = None, headers=None) -> int:
    req = urllib.request.Request(url, body, method=method, headers=headers or {})
    try:
        with urllib.request.urlopen(req, timeout=30) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


ROUTES = [
    ("GET", "/"), ("GET", "/add"), ("GET", "/report"), ("GET", "/report/confusion.png"),
    ("GET", "/api/inbox"), ("GET", "/api/report"), ("GET", "/api/evaluate"),
    ("GET", "/history"), ("GET", "/model"), ("GET", "/intents"), ("GET", "/api/history"),
    ("GET", "/api/live"), ("GET", "/api/retrain"),
    ("POST", "/add"), ("POST", "/api/examples"), ("POST", "/evaluate"), ("POST", "/api/evaluate"),
    ("POST", "/retrain"), ("POST", "/api/retrain"),
    ("POST", "/inbox/0123456789/label"), ("POST", "/inbox/0123456789/dismiss"),
    ("POST", "/api/inbox/0123456789/label"), ("POST", "/api/inbox/0123456789/dismiss"),
    ("POST", "/history/1/undo"), ("POST", "/api/history/1/undo"),
]  # fmt: skip


def test_without_the_password_every_page_and_api_call_is_refused(workbench):
    url, project = workbench
    before = snapshot(project)
    form = b"intent=greet&text=hello+from+an+intruder&password=guess"
    for credentials in (
        {},
        {"Authorization": "Bearer wrong"},
        {"Cookie": "trainer_session=forged"},
    ):  # noqa: E501
        for method, path in ROUTES:
            body = form if method == "POST" else None
            assert request(url + path, method, body, credentials) == 401, (method, path)
    assert request(f"{url}/login", "POST", b"password=guess") == 401
    assert snapshot(project) == before and not project.report_dir.exists()
    # The same calls with the token get through.
    token = {"Authorization": f"Bearer {PASSWORD}"}
    assert request(f"{url}/api/inbox", headers=token) == 200
    assert request(f"{url}/", headers=token) == 200


def test_it_refuses_to_start_without_a_password(tmp_path):
    project = project_with_model(tmp_path / "bot")
    db_url = f"sqlite:///{tmp_path / 'empty.db'}"
    for args in (["--host", "0.0.0.0"], ["--host", "0.0.0.0", "--dev-no-password"], []):
        process = start_workbench(project, db_url, clean_env(), *args, "--port", str(free_port()))
        assert process.wait(timeout=60) == 2, args
    # On localhost, an explicit development flag allows it.
    port = free_port()
    process = start_workbench(project, db_url, clean_env(), "--dev-no-password",
                              "--port", str(port))  # fmt: skip
    try:
        assert process.stdout.readline().strip() == f"Trainer workbench: http://localhost:{port}/"
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_a_trainer_labels_and_adds_and_a_refused_form_keeps_what_was_typed(workbench):
    url, project = workbench
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium",
                                             args=CHROMIUM_ARGS)  # fmt: skip
        try:
            page = browser.new_page()
            page.set_default_timeout(60_000)
            page.goto(url)
            page.get_by_label("Your name").fill("Kim")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page.locator("h1")).to_have_text("Inbox")

            # Once labelled, the card holds only the outcome, so it is found by its id.
            card = page.locator("article", has=page.locator(".message", has_text=UNCLEAR))
            row = page.locator(f'[data-item="{card.get_attribute("data-item")}"]')
            row.get_by_label("What did the person want?").select_option("out_of_scope")
            row.get_by_role("button", name="Label").click()
            expect(row).to_contain_text("Labelled", timeout=60_000)

            page.get_by_role("link", name="Add example").click()
            page.get_by_label("What did the person want?").select_option("ask_relief")
            # Already an example: refused, and the form keeps what was typed.
            page.get_by_label("Example sentence").fill("does massage help")
            page.get_by_role("button", name="Add example").click()
            expect(page.locator("[data-status]")).to_contain_text("Duplicate", timeout=60_000)
            expect(page.get_by_label("Example sentence")).to_have_value("does massage help")
            expect(page.get_by_label("What did the person want?")).to_have_value("ask_relief")

            page.get_by_label("Example sentence").fill(NEW_EXAMPLE)
            page.get_by_role("button", name="Add example").click()
            expect(page.locator("[data-status]")).to_contain_text("Added", timeout=60_000)

            examples = read_examples(sorted(project.nlu_dir.glob("*.yml")))
            pairs = [(e.intent, e.text) for e in examples]
            assert ("out_of_scope", UNCLEAR) in pairs and ("ask_relief", NEW_EXAMPLE) in pairs
        finally:
            browser.close()
