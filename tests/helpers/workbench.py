"""The trainer workbench as the tests start it: a real `python -m trainer web` process on a
free port, a scratch bot project, and a bot that serves the project's live model."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa
import yaml

from helpers.chat_page import AXE_SCRIPT, AXE_TAGS
from helpers.servers import wait_until_up
from ops.launcher import ROOT, SERVER_ENV, BotServer, free_port
from trainer.project import Project

PASSWORD = "correct horse battery staple"
API_TOKEN = "test-api-token-for-put-model"
# Vignettes the bot passes on any model trained from our data: a red flag and a greeting.
# The safety gate runs them in seconds instead of the whole test half.
PASSING_VIGNETTES = [
    {"id": "tiny-red", "group": "red", "kind": "chest", "turns": ["crushing chest pain right now"]},
    {"id": "tiny-benign", "group": "benign", "kind": "hello", "turns": ["hi"]},
]


def write_vignettes(project: Project, vignettes: list[dict]) -> None:
    """The project's own safety vignettes (trainer/promotion.py prefers them)."""
    project.safety_vignettes.parent.mkdir(parents=True, exist_ok=True)
    project.safety_vignettes.write_text(yaml.safe_dump({"vignettes": vignettes}))


def bot_for(project: Project, db: Path, log_dir: Path) -> BotServer:
    """The bot on free ports, loading the project's live model, with Rasa's API on a token
    (the workbench tells it to load a promoted model through PUT /model)."""
    return BotServer(
        free_port(),
        free_port(),
        model=project.model,
        env={
            "DATABASE_URL": f"sqlite:///{db}",
            "LOCK_FILE": str(db.with_suffix(".locks")),
            "ENABLE_API": "true",
            "RASA_API_TOKEN": API_TOKEN,
        },  # fmt: skip
        log_dir=log_dir,
    )


@contextmanager
def workbench(project: Project, db_url: str, bot_url: str = "") -> Iterator[str]:
    """The workbench's URL while it runs."""
    port = free_port()
    env = {**os.environ, **SERVER_ENV, "TRAINER_PASSWORD": PASSWORD,
           "TRAINER_BOT_URLS": bot_url, "RASA_API_TOKEN": API_TOKEN}  # fmt: skip
    process = subprocess.Popen(
        [sys.executable, "-m", "trainer", "--root", str(project.root), "--db", db_url,
         "web", "--port", str(port)],
        cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        url = f"http://127.0.0.1:{port}"
        wait_until_up(f"{url}/login", process, timeout=60)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=10)


def log_in(page, url: str, name: str = "Sam Trainer") -> None:
    page.goto(f"{url}/login")
    page.get_by_label("Your name").fill(name)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(f"{url}/")


def axe_violations(page) -> list[dict]:
    """axe-core's WCAG 2.1 AA and best-practice violations on the page as it is now."""
    page.evaluate(AXE_SCRIPT.read_text(encoding="utf-8"))
    result = page.evaluate("tags => axe.run(document, {runOnly: tags})", AXE_TAGS)
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
    ]


def bot_status(bot: BotServer) -> dict:
    with urllib.request.urlopen(f"{bot.url}/status?token={API_TOKEN}", timeout=30) as response:
        return json.loads(response.read())


def bot_parse(bot: BotServer, text: str) -> dict:
    """What the running bot's model understands `text` to mean (Rasa's /model/parse)."""
    request = urllib.request.Request(
        f"{bot.url}/model/parse?token={API_TOKEN}",
        json.dumps({"text": text}).encode(),
        headers={"Content-Type": "application/json"},
    )
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def user_turns(db_url: str, text: str) -> list[dict]:
    """What the bot understood each time `text` was said: the stored parse data."""
    engine = sa.create_engine(db_url)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.text("SELECT data FROM events WHERE type_name = 'user' ORDER BY id")
        ).scalars()
        found = [json.loads(r)["parse_data"] for r in rows if json.loads(r).get("text") == text]
    engine.dispose()
    return found


def feedback_rows(db_url: str, at_least: int = 0, timeout: float = 10) -> list[dict]:
    """The stored 👍/👎 rows; waits up to `timeout` for `at_least` of them, since the page
    thanks the user at once and sends the rating in the background."""
    deadline = time.monotonic() + timeout
    engine = sa.create_engine(db_url)
    while True:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.text("SELECT data FROM events WHERE type_name = 'feedback' ORDER BY id")
            ).scalars()
            found = [json.loads(r) for r in rows]
        if len(found) >= at_least or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    engine.dispose()
    return found
