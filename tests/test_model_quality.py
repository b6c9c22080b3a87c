"""Rasa's own checks on the data and the trained model."""

from __future__ import annotations

import json
import os
import subprocess

import pytest

from ops.launcher import DEFAULT_MODEL, RASA, ROOT, SERVER_ENV

pytestmark = pytest.mark.model

NLU_DIR = ROOT / "tests" / "nlu"


def rasa(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [RASA, *args],
        cwd=ROOT,
        env={**os.environ, **SERVER_ENV},
        capture_output=True,
        text=True,
        timeout=600,
    )


def test_training_data_is_valid():
    result = rasa("data", "validate")
    assert result.returncode == 0, result.stdout[-3000:]


def test_held_out_intent_macro_f1_stays_within_the_baseline(tmp_path):
    result = rasa("test", "nlu", "--nlu", str(NLU_DIR / "test_nlu.yml"),
                  "--model", str(DEFAULT_MODEL), "--out", str(tmp_path))  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:]
    report = json.loads((tmp_path / "intent_report.json").read_text())
    # The same gate as `make evaluate` (trainer): at most `allowed_drop` below baseline.
    baseline = json.loads((NLU_DIR / "baseline.json").read_text())
    floor = baseline["intent_macro_f1"] - baseline["allowed_drop"]
    assert report["macro avg"]["f1-score"] >= floor
