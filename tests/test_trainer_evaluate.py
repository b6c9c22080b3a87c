"""`python -m trainer evaluate`: report, confusion matrix, and the macro-F1 gate."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from helpers.trainer_projects import project_with_model

from ops.launcher import ROOT, SERVER_ENV

pytestmark = pytest.mark.model

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def evaluate(project, *args):
    return subprocess.run(
        [sys.executable, "-m", "trainer", "--root", str(project.root), "evaluate", *args],
        cwd=ROOT, env={**os.environ, **SERVER_ENV}, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


@pytest.fixture
def project(tmp_path):
    return project_with_model(tmp_path / "bot")


def test_evaluate_writes_the_report_and_the_confusion_matrix(project):
    result = evaluate(project)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Testing it on the held-out sentences: done" in result.stderr  # progress is shown

    report = json.loads((project.report_dir / "report.json").read_text())
    baseline = json.loads(project.baseline.read_text())
    assert report["passed"] and report["baseline"] == baseline["intent_macro_f1"]
    assert abs(report["macro_f1"] - baseline["intent_macro_f1"]) <= baseline["allowed_drop"]
    lines = project.test_set.read_text().splitlines()
    test_intents = {line.split(":", 1)[1].strip() for line in lines if line.startswith("- intent:")}
    assert test_intents <= set(report["per_intent"])
    for scores in report["per_intent"].values():
        assert {"precision", "recall", "f1", "support"} <= set(scores)
    assert all(pair["intent"] != pair["predicted"] for pair in report["confused_pairs"])
    png = project.report_dir / "intent_confusion_matrix.png"
    assert png.read_bytes()[:8] == PNG_SIGNATURE and png.stat().st_size > 10_000
    assert "intent_confusion_matrix.png" in (project.report_dir / "report.md").read_text()
    assert f"{report['macro_f1']:.4f}" in result.stdout


def test_a_broken_data_set_fails_the_gate_until_the_baseline_is_updated(project):
    # Teach every relief question as a prevention question.
    relief = project.nlu_dir / "relief.yml"
    relief.write_text(
        relief.read_text().replace("- intent: ask_relief", "- intent: ask_prevention")
    )
    live = project.model.read_bytes()
    result = evaluate(project)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "Training a candidate model: done" in result.stderr
    assert project.model.read_bytes() == live  # evaluating never replaces the live model
    assert "Quality gate FAILED" in result.stderr
    report = json.loads((project.report_dir / "report.json").read_text())
    assert not report["passed"] and report["per_intent"]["ask_relief"]["recall"] == 0
    assert (project.report_dir / "intent_confusion_matrix.png").exists()

    accepted = evaluate(project, "--update-baseline")
    assert accepted.returncode == 0, accepted.stdout + accepted.stderr
    assert json.loads(project.baseline.read_text())["intent_macro_f1"] == report["macro_f1"]
