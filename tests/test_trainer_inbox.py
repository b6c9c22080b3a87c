"""Conversations with the real running bot land in the trainer's inbox."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid

import pytest
from helpers.trainer_projects import copy_project, snapshot

from ops.launcher import ROOT, SERVER_ENV
from trainer.examples import read_examples
from trainer.inbox import DEFAULT_THRESHOLD, Inbox
from trainer.project import TrainerError

GIBBERISH = "zxqv blorptang wuzzle"  # the NLU fallback catches it
VAGUE = "what about the other thing"  # classified (ask_about_topic), but with low confidence


@pytest.fixture
def project(tmp_path):
    return copy_project(tmp_path / "bot")


@pytest.fixture(scope="module")
def conversations(bot, rest) -> dict[str, str]:
    """A few real turns; returns the confident sentence used."""
    confident = read_examples([ROOT / "data" / "nlu" / "causes.yml"])[0].text
    for text in (GIBBERISH, VAGUE, GIBBERISH, confident):
        rest.send(f"trainer-inbox-{uuid.uuid4().hex[:8]}", text)
    return {"confident": confident}


def by_text(inbox: Inbox) -> dict:
    return {item.text: item for item in inbox.items()}


def test_unsure_messages_appear_grouped_and_confident_ones_do_not(bot, conversations, project):
    items = by_text(Inbox(project, bot.settings.database_url))
    assert items[GIBBERISH].fallback and items[GIBBERISH].count == 2
    assert items[GIBBERISH].intent  # the best real guess is shown, not "nlu_fallback"
    assert not items[VAGUE].fallback and items[VAGUE].confidence < DEFAULT_THRESHOLD
    assert conversations["confident"] not in items
    order = [item.last_seen for item in items.values()]
    assert order == sorted(order, reverse=True)


def test_the_cli_lists_the_inbox(bot, conversations, project):
    result = subprocess.run(
        [sys.executable, "-m", "trainer", "--root", str(project.root),
         "--db", bot.settings.database_url, "inbox", "--json"],
        cwd=ROOT, env={**os.environ, **SERVER_ENV}, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    texts = [item["text"] for item in json.loads(result.stdout)]
    assert GIBBERISH in texts and conversations["confident"] not in texts


def test_labeling_adds_the_example_and_empties_that_inbox_slot(bot, rest, conversations, project):
    inbox = Inbox(project, bot.settings.database_url)
    item = by_text(inbox)[VAGUE]
    added = inbox.label(item.id, "out_of_scope")
    examples = read_examples(sorted(project.nlu_dir.glob("*.yml")))
    assert ("out_of_scope", VAGUE) in [(e.intent, e.text) for e in examples]
    assert VAGUE in added.file.read_text()
    assert VAGUE not in by_text(inbox)
    # Said again by someone else, a reviewed message still does not come back.
    rest.send(f"trainer-inbox-{uuid.uuid4().hex[:8]}", VAGUE)
    assert VAGUE not in by_text(inbox)


def test_dismissing_removes_it_without_touching_the_data(bot, conversations, project):
    inbox = Inbox(project, bot.settings.database_url)
    before = snapshot(project)
    inbox.dismiss(by_text(inbox)[GIBBERISH].id)
    assert GIBBERISH not in by_text(inbox)
    assert snapshot(project) == before


def test_unknown_ids_are_refused(bot, project):
    inbox = Inbox(project, bot.settings.database_url)
    with pytest.raises(TrainerError, match="No unreviewed inbox message"):
        inbox.label("0123456789", "greet")
    with pytest.raises(TrainerError, match="No unreviewed inbox message"):
        inbox.dismiss("not-an-id")
