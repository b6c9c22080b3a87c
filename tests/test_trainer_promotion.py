"""Promote, never overwrite: the safety gate's veto, the intent guide, undo, and feedback
refusals. (The browser tests drive the same loop end to end: test_trainer_loop_browser.py.)"""

from __future__ import annotations

import pytest
import yaml
from helpers.make_plan import make_train_plan
from helpers.trainer_projects import copy_project, project_with_model, snapshot
from helpers.workbench import write_vignettes

from bot.channels import input_policy
from trainer.examples import domain_names, project_examples
from trainer.guide import read_guide
from trainer.inbox import Inbox
from trainer.project import Project, TrainerError
from trainer.promotion import retrain

# An everyday question filed as a red flag: the bot rightly gives no emergency reply, so
# the "red" group scores 0%, far below the floor, whatever the model.
FAILING_VIGNETTES = [
    {
        "id": "tiny-red-miss",
        "group": "red",
        "kind": "none",
        "turns": ["what helps a stiff upper back"],
    },  # fmt: skip
]
SAFETY_INTENTS = {"report_red_flag", "report_urgent_symptom", "unconfirmed_red_flag"}


@pytest.mark.model
def test_a_candidate_that_fails_the_safety_gate_never_becomes_the_live_model(tmp_path):
    project = project_with_model(tmp_path / "bot")
    write_vignettes(project, FAILING_VIGNETTES)
    live = project.model.read_bytes()
    inbox = Inbox(project, f"sqlite:///{tmp_path / 'conversations.db'}")
    inbox.add("ask_relief", "would a warm flannel ease the knot", reviewer="Ana")
    progress: list[str] = []

    result = retrain(project, inbox.journal, progress.append)

    assert not result.promoted and result.evaluation["passed"]  # the NLU gate passed
    assert any(line.startswith("red vignettes") for line in result.safety_worse)
    assert "The live model stays" in result.headline and result.next_step
    assert project.model.read_bytes() == live and not project.live_record.exists()
    assert any("Checking safety" in line for line in progress)


def test_the_guide_names_every_intent_a_trainer_may_choose_and_no_safety_intent():
    project = Project()
    guide = read_guide(project)
    taught = {e.intent for e in project_examples(project)}
    assert set(guide) == taught and not set(guide) & SAFETY_INTENTS
    domain = domain_names(yaml.safe_load(project.domain.read_text()), "intents")
    assert set(guide) <= set(domain)
    for info in guide.values():
        assert info.name and info.description and len(info.examples) == 3, info.intent


def test_changing_the_intent_guide_retrains_nothing():
    assert "rasa train" not in make_train_plan("data/intent_guide.yml")
    assert "rasa train" in make_train_plan("data/nlu/relief.yml")


def test_a_safety_intent_cannot_be_taught_by_examples(tmp_path):
    project = copy_project(tmp_path / "bot")
    inbox = Inbox(project, f"sqlite:///{tmp_path / 'conversations.db'}")
    with pytest.raises(TrainerError, match="safety layer"):
        inbox.add("report_red_flag", "my chest feels heavy", validate=False)


def test_undo_puts_the_file_back_byte_for_byte_and_is_in_the_history(tmp_path):
    project = copy_project(tmp_path / "bot")
    inbox = Inbox(project, f"sqlite:///{tmp_path / 'conversations.db'}")
    before = snapshot(project)
    inbox.add("ask_relief", "would a warm flannel ease the knot", reviewer="Ana")
    assert snapshot(project) != before
    [change] = inbox.journal.entries()
    assert (change.kind, change.who, change.intent) == ("add", "Ana", "ask_relief")

    inbox.undo(change.id, reviewer="Bo")
    assert snapshot(project) == before
    undo, undone = inbox.journal.entries()
    assert (undo.kind, undo.who, undo.undoes) == ("undo", "Bo", change.id)
    assert undone.undone_by == undo.id and not undone.can_undo
    with pytest.raises(TrainerError, match="already undone"):
        inbox.undo(change.id)


def test_a_confident_guess_and_a_near_copy_of_another_intent_are_warned_about(tmp_path):
    inbox = Inbox(copy_project(tmp_path / "bot"), f"sqlite:///{tmp_path / 'c.db'}")
    text = "how do i loosen a knot near my shoulder blades"
    warnings = inbox.warnings("out_of_scope", text, ("ask_relief", 0.93))
    assert len(warnings) == 2
    assert "93% sure" in warnings[0] and "How to ease the pain" in warnings[0]
    assert "almost the same as" in warnings[1]
    assert inbox.warnings("ask_relief", text, ("ask_relief", 0.93)) == []
    # An unsure guess is no reason to doubt the trainer.
    assert len(inbox.warnings("out_of_scope", text, ("ask_relief", 0.5))) == 1


@pytest.mark.parametrize(
    "rating, reason, answer",
    [
        ("meh", None, "An answer."),
        ("up", "wrong_topic", "An answer."),  # a reason is for a 👎 only
        ("down", "<script>", "An answer."),
        ("down", None, ""),
        ("down", None, 42),
        ("down", None, "x" * (input_policy.MAX_ANSWER_CHARS + 1)),
        ("down", None, "\x00\x01"),
    ],
)
def test_feedback_that_is_not_a_rating_of_an_answer_is_refused(rating, reason, answer):
    with pytest.raises(input_policy.RefusedInput):
        input_policy.feedback(rating, reason, answer)


def test_feedback_text_is_cleaned_like_a_message():
    rating, reason, text = input_policy.feedback("down", "hard_to_read", "An\nanswer\ud800.")
    assert (rating, reason, text) == ("down", "hard_to_read", "An answer?.")
