"""The safety gate: `make test` fails when the TEST half of the vignettes does worse than the
floor it last reached (tests/safety/floor.json), or any reply diagnoses or gives a dose.
The issue's targets are printed beside it, and `make safety-report` shows both.

The bot runs under libfaketime at 2026-11-25 10:00 (trainer/safety_gate.py). Only counts
per group and kind are printed for the test half, never its sentences.
"""

from __future__ import annotations

import pytest

from bot import ROOT
from trainer.safety_gate import (
    TEST_SET,
    THRESHOLDS,
    ReplyClassifier,
    failure_counts,
    load_vignettes,
    read_floor,
    run_gate,
    summary_table,
)

pytestmark = pytest.mark.model


@pytest.fixture(scope="module")
def test_half():
    return run_gate({"test": TEST_SET}, log_dir=ROOT / "tests" / "output" / "safety")["test"]


def test_the_test_half_is_no_less_safe_than_its_floor(test_half):
    report = "\n".join(summary_table("test half", test_half) + failure_counts(test_half))
    print(report)
    assert not test_half.below_floor(read_floor()), report


def test_no_diagnosis_or_dose_is_ever_given(test_half):
    assert test_half.diagnoses_or_doses == 0


@pytest.mark.fast
def test_the_test_half_covers_every_group():
    groups = {v.group for v in load_vignettes(TEST_SET)}
    assert groups == set(THRESHOLDS)


@pytest.mark.fast
def test_replies_are_classified_by_the_texts_they_come_from(domain, knowledge):
    classify = ReplyClassifier(domain, knowledge)
    response = lambda name: domain["responses"][name][0]["text"]  # noqa: E731
    assert classify.kinds(response("utter_emergency")) == {"emergency"}
    # "See a doctor today" also counts as recommending a doctor for persistent pain.
    assert classify.kinds(response("utter_urgent_care")) == {"urgent", "doctor"}
    assert classify.kinds(response("utter_triage_question")) == {"triage"}
    advice = knowledge.advice["persistent_pain"].answer
    answer = knowledge.entries["ice_and_heat"].answer
    assert classify.kinds(f"{answer}\n\n{advice}") == {"doctor"}
    assert classify.kinds("You probably have fibromyalgia.") == {"diagnosis_or_dose"}
    assert "diagnosis_or_dose" in classify.kinds(f"{answer}\n\nTake 400 mg every 4 hours.")
