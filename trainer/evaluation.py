"""Evaluate the data as it is now on the held-out NLU set, and gate on macro F1.

When the data changed since the live model, a *candidate* model is trained into
models/candidates/ and evaluated; the live model (models/upper-back.tar.gz) is never
written here, only by a promotion (trainer/promotion.py).
The report (JSON, Markdown, Rasa's confusion-matrix PNG) goes to reports/evaluation/.
The gate compares intent macro F1 with tests/nlu/baseline.json, the same file `make test`
uses: it fails when the score drops more than `allowed_drop` below the baseline.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ops.launcher import RASA, SERVER_ENV
from trainer.project import Project, TrainerError, write_atomically

CANDIDATE_NAME = "candidate"

DEFAULT_ALLOWED_DROP = 0.01
MOST_CONFUSED = 5
Progress = Callable[[str], None]


@dataclass
class Evaluation:
    macro_f1: float
    baseline: float
    allowed_drop: float
    retrained: bool
    finished_at: str
    model: str  # the model evaluated, relative to the project
    per_intent: dict[str, dict] = field(default_factory=dict)
    confused_pairs: list[dict] = field(default_factory=list)

    @property
    def passed(self) -> bool:
        # Rounded, so a score equal to the limit in the report is not a failure.
        return round(self.baseline - self.macro_f1, 6) <= self.allowed_drop


def needs_training(project: Project, model: Path) -> bool:
    """Whether `model` is missing or older than any training input."""
    if not model.exists():
        return True
    built = model.stat().st_mtime
    return any(path.stat().st_mtime > built for path in project.training_inputs())


def candidate_path(project: Project) -> Path:
    return project.candidate_dir / f"{CANDIDATE_NAME}.tar.gz"


def model_for_current_data(project: Project, progress: Progress, step: str) -> tuple[Path, bool]:
    """The model built from the data as it is now, and whether it was trained just now:
    the live one if nothing changed since it, else a candidate (trained when needed)."""
    if not needs_training(project, project.model):
        return project.model, False
    candidate = candidate_path(project)
    if not needs_training(project, candidate):
        return candidate, False
    train = [RASA, "train", "--fixed-model-name", CANDIDATE_NAME,
             "--out", str(project.candidate_dir)]  # fmt: skip
    run_step(project, train, f"{step} Training a candidate model", progress)
    return candidate, True


def test_model(project: Project, model: Path, out: Path, label: str, progress: Progress) -> dict:
    """Rasa's intent report for `model` on the held-out set, written into the folder `out`."""
    shutil.rmtree(out, ignore_errors=True)
    test = [RASA, "test", "nlu", "--nlu", str(project.test_set),
            "--model", str(model), "--out", str(out)]  # fmt: skip
    run_step(project, test, label, progress)
    return json.loads((out / "intent_report.json").read_text())


def run_step(project: Project, args: list[str], label: str, progress: Progress) -> None:
    """Run a Rasa command, reporting elapsed time every second; its output goes to a log."""
    log_path = project.root / "reports" / "trainer.log"
    log_path.parent.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    with open(log_path, "a") as log:
        log.write(f"\n$ {' '.join(args)}\n")
        log.flush()
        process = subprocess.Popen(
            args, cwd=project.root, env={**os.environ, **SERVER_ENV}, stdout=log, stderr=log
        )
        while True:
            progress(f"{label}: {time.monotonic() - started:.0f} s")
            try:
                process.wait(timeout=1)
                break
            except subprocess.TimeoutExpired:
                continue
    if process.returncode != 0:
        tail = log_path.read_text(errors="replace").splitlines()[-8:]
        raise TrainerError(f"{label} failed (see {log_path}):\n" + "\n".join(tail))
    progress(f"{label}: done in {time.monotonic() - started:.0f} s")


def read_baseline(project: Project) -> dict | None:
    if not project.baseline.exists():
        return None
    return json.loads(project.baseline.read_text())


def write_baseline(project: Project, macro_f1: float, allowed_drop: float) -> None:
    content = {"intent_macro_f1": round(macro_f1, 4), "allowed_drop": allowed_drop}
    write_atomically(project.baseline, json.dumps(content, indent=2) + "\n")


def summarise(intent_report: dict) -> tuple[dict[str, dict], list[dict]]:
    per_intent, pairs = {}, []
    for intent, scores in intent_report.items():
        if not isinstance(scores, dict) or "support" not in scores or intent.endswith(" avg"):
            continue
        per_intent[intent] = {
            "precision": round(scores["precision"], 4),
            "recall": round(scores["recall"], 4),
            "f1": round(scores["f1-score"], 4),
            "support": scores["support"],
        }
        for predicted, count in (scores.get("confused_with") or {}).items():
            pairs.append({"intent": intent, "predicted": predicted, "count": count})
    pairs.sort(key=lambda pair: (-pair["count"], pair["intent"], pair["predicted"]))
    return per_intent, pairs[:MOST_CONFUSED]


def markdown(evaluation: Evaluation) -> str:
    verdict = "PASSED" if evaluation.passed else "FAILED"
    lines = [
        f"# NLU evaluation, {evaluation.finished_at}",
        "",
        f"Intent macro F1 **{evaluation.macro_f1:.4f}**; baseline {evaluation.baseline:.4f}, "
        f"allowed drop {evaluation.allowed_drop:.2f}: gate **{verdict}**.",
        "",
        "| intent | precision | recall | F1 | support |",
        "|---|---|---|---|---|",
    ]
    for intent, s in sorted(evaluation.per_intent.items()):
        scores = f"{s['precision']:.2f} | {s['recall']:.2f} | {s['f1']:.2f} | {s['support']}"
        lines.append(f"| {intent} | {scores} |")
    lines += ["", "Most confused (true intent → predicted, count):", ""]
    lines += [
        f"- {p['intent']} → {p['predicted']}: {p['count']}" for p in evaluation.confused_pairs
    ]
    lines += ["", "![confusion matrix](intent_confusion_matrix.png)", ""]
    return "\n".join(lines)


def evaluate(
    project: Project,
    progress: Progress = print,
    update_baseline: bool = False,
    steps: tuple[int, int] = (1, 2),
) -> Evaluation:
    """Train a candidate if the data changed, evaluate, write the report; the NLU gate's
    verdict is `.passed`. `steps` numbers the progress lines (first step, all steps)."""
    if not project.test_set.exists():
        raise TrainerError(f"No held-out test set at {project.test_set}.")
    first, total = steps
    model, retrained = model_for_current_data(project, progress, f"[{first}/{total}]")
    # Rasa writes into a fresh folder; it replaces the last report only when complete.
    fresh = project.report_dir.with_name(".evaluation-running")
    label = f"[{first + 1}/{total}] Testing it on the held-out sentences"
    intent_report = test_model(project, model, fresh, label, progress)
    macro_f1 = intent_report["macro avg"]["f1-score"]
    baseline = read_baseline(project)
    if baseline is None or update_baseline:
        allowed_drop = baseline["allowed_drop"] if baseline else DEFAULT_ALLOWED_DROP
        write_baseline(project, macro_f1, allowed_drop)
        baseline = read_baseline(project)
    per_intent, pairs = summarise(intent_report)
    evaluation = Evaluation(
        macro_f1=round(macro_f1, 4),
        baseline=baseline["intent_macro_f1"],
        allowed_drop=baseline["allowed_drop"],
        retrained=retrained,
        finished_at=datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        model=str(model.relative_to(project.root)),
        per_intent=per_intent,
        confused_pairs=pairs,
    )
    (fresh / "report.json").write_text(
        json.dumps({**asdict(evaluation), "passed": evaluation.passed}, indent=2)
    )
    (fresh / "report.md").write_text(markdown(evaluation))
    shutil.rmtree(project.report_dir, ignore_errors=True)
    fresh.rename(project.report_dir)
    return evaluation


def last_report(project: Project) -> dict | None:
    path = project.report_dir / "report.json"
    return json.loads(path.read_text()) if path.exists() else None
