"""Retrain, check, and promote: a new model goes live only when both gates pass.

1. The data as it is now is trained into a candidate (models/candidates/), never over the
   live model.
2. The NLU gate (trainer/evaluation.py): macro F1 on the held-out sentences against
   tests/nlu/baseline.json.
3. The clinical safety gate (trainer/safety_gate.py): the safety vignettes against a bot
   running the candidate, no group worse than tests/safety/floor.json.
4. Only then the candidate replaces models/upper-back.tar.gz (atomically), models/live.json
   records since when and with which scores, and every running bot listed in
   TRAINER_BOT_URLS is told to load it through Rasa's own `PUT /model` API (with
   RASA_API_TOKEN), so it answers with the new model without a restart.

A failed gate leaves the live model and live.json as they were, and the result says which
intents got worse, which recent changes probably caused it, and what to do next.
"""

from __future__ import annotations

import json
import os
import shutil
import tarfile
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from trainer import safety_gate
from trainer.evaluation import Evaluation, Progress, evaluate, summarise, test_model
from trainer.journal import Change, Journal
from trainer.project import Project, write_atomically

# An intent "got worse" when its F1 fell by more than this.
WORSE_BY = 0.005
# Loading a model takes the bot 10-40 s on a busy machine.
LOAD_TIMEOUT = 180
STEPS = 4  # train, test, safety, promote


@dataclass
class Retrain:
    promoted: bool
    headline: str  # one plain sentence: what happened
    next_step: str  # what the trainer should do now
    evaluation: dict | None = None
    worse_intents: list[dict] = field(default_factory=list)
    suspects: list[dict] = field(default_factory=list)
    safety_worse: list[str] = field(default_factory=list)
    safety: dict[str, float] = field(default_factory=dict)
    bots: list[str] = field(default_factory=list)  # what each running bot said
    unchanged: bool = False  # nothing to promote: the data is what the live model learned

    def as_dict(self) -> dict:
        return asdict(self)


def model_id(model: Path) -> str:
    """Rasa's id for a model archive, from its metadata.json (what GET /status reports)."""
    with tarfile.open(model, "r:gz") as archive:
        for member in archive.getmembers():
            if member.name.endswith("metadata.json"):
                return json.load(archive.extractfile(member))["model_id"]
    return ""


def read_live(project: Project) -> dict | None:
    """Which model is live, since when, with which scores; None before the first promotion."""
    path = project.live_record
    return json.loads(path.read_text()) if path.exists() else None


def live_scores(project: Project, progress: Progress) -> dict[str, dict]:
    """The live model's per-intent scores: recorded at promotion, else measured now."""
    live = read_live(project)
    if live and live.get("per_intent"):
        return live["per_intent"]
    out = project.root / "reports" / ".live-model"
    report = test_model(project, project.model, out, "Measuring the live model first", progress)
    shutil.rmtree(out, ignore_errors=True)
    return summarise(report)[0]


def worse_intents(before: dict[str, dict], after: dict[str, dict]) -> list[dict]:
    worse = [
        {"intent": intent, "before": before[intent]["f1"], "after": scores["f1"]}
        for intent, scores in after.items()
        if intent in before and scores["f1"] < before[intent]["f1"] - WORSE_BY
    ]
    return sorted(worse, key=lambda w: w["after"] - w["before"])


def suspects(changes: list[Change], worse: list[dict], confused: list[dict]) -> list[dict]:
    """Changes since the live model that touch an intent that got worse, or one that the
    worse intents were taken for."""
    names = {w["intent"] for w in worse}
    names |= {p["predicted"] for p in confused if p["intent"] in names}
    return [
        {"id": c.id, "kind": c.kind, "intent": c.intent, "text": c.text, "who": c.who, "at": c.at}
        for c in changes
        if c.intent in names
    ]


def bot_urls() -> list[str]:
    return [u.strip().rstrip("/") for u in os.environ.get("TRAINER_BOT_URLS", "").split(",") if u]


def tell_bot(url: str, model: Path, token: str) -> str:
    """Ask one running bot to load `model` (Rasa's PUT /model); a plain sentence on how it went."""
    query = urllib.parse.urlencode({"token": token})
    body = json.dumps({"model_file": str(model.resolve())}).encode()
    request = urllib.request.Request(
        f"{url}/model?{query}", body, method="PUT", headers={"Content-Type": "application/json"}
    )
    try:
        with urllib.request.urlopen(request, timeout=LOAD_TIMEOUT):
            pass
        with urllib.request.urlopen(f"{url}/status?{query}", timeout=30) as response:
            loaded = json.loads(response.read()).get("model_id")
    except (urllib.error.URLError, OSError, ValueError) as error:
        return f"{url}: could not load it ({error}); it will when it next starts."
    if loaded != model_id(model):
        return f"{url}: still answers with another model; it will load this one when it restarts."
    return f"{url}: now answers with the new model."


def tell_bots(model: Path) -> list[str]:
    urls, token = bot_urls(), os.environ.get("RASA_API_TOKEN")
    if not urls:
        return ["No running bot is set (TRAINER_BOT_URLS): bots load it when they next start."]
    if not token:
        return ["RASA_API_TOKEN is not set, so the running bots could not be told."]
    return [tell_bot(url, model, token) for url in urls]


def promote(project: Project, candidate: Path, evaluation: Evaluation, safety: dict) -> dict:
    """Make `candidate` the live model; readers see the old file or the new, never half."""
    staged = project.model.with_name(f".{project.model.name}.promoting")
    # A fresh copy, so its modification time is newer than the data it was trained on
    # and `make run` does not retrain it.
    shutil.copyfile(candidate, staged)
    os.replace(staged, project.model)
    record = {
        "model": str(project.model.relative_to(project.root)),
        "model_id": model_id(project.model),
        "since": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "since_timestamp": datetime.now(timezone.utc).timestamp(),
        "macro_f1": evaluation.macro_f1,
        "per_intent": evaluation.per_intent,
        "safety": safety,
    }
    write_atomically(project.live_record, json.dumps(record, indent=2) + "\n")
    return record


def safety_problems(result: safety_gate.GateResult, floor: dict[str, float]) -> list[str]:
    """The groups worse than the floor, in plain words."""
    words = {name: measure for name, (measure, _, _) in safety_gate.THRESHOLDS.items()}
    lines = []
    for name in result.below_floor(floor):
        group = result.groups.get(name)
        if group is None:
            lines.append("A reply gave a diagnosis or a medicine dose.")
            continue
        lines.append(
            f"{name} vignettes ({words[name]}): {group.figure:.1%}, "
            f"the live bot's floor is {floor[name]:.1%}."
        )
    return lines


def run_safety_gate(project: Project, model: Path) -> tuple[safety_gate.GateResult, dict]:
    vignettes = project.safety_vignettes
    if not vignettes.exists():
        vignettes = safety_gate.TEST_SET
    floor_file = project.safety_floor if project.safety_floor.exists() else safety_gate.FLOOR_FILE
    logs = project.root / "reports" / "safety-gate"
    result = safety_gate.run_gate({"gate": vignettes}, model, logs)["gate"]
    return result, json.loads(floor_file.read_text())


def busy_replies(result: safety_gate.GateResult) -> int:
    """Turns answered by the reply deadline's "can't answer right now": a busy machine."""
    classify = safety_gate.ReplyClassifier.for_project()
    return sum(
        "utter_unavailable" in classify.sources(text)
        for group in result.groups.values()
        for outcome in group.outcomes
        for turn in outcome.replies
        for text in turn
    )


def retrain(project: Project, journal: Journal | None, progress: Progress = print) -> Retrain:
    """Train a candidate, run both gates, and promote it only if both pass."""
    live = read_live(project)
    evaluation = evaluate(project, progress, steps=(1, STEPS))
    result = Retrain(False, "", "", evaluation={**asdict(evaluation), "passed": evaluation.passed})
    candidate = project.root / evaluation.model
    if candidate == project.model:
        result.headline = "Nothing changed since the live model, so there is nothing to promote."
        result.next_step = "Add or label examples first, then retrain."
        result.unchanged = True
        return result
    since = live["since_timestamp"] if live else project.model.stat().st_mtime
    changes = journal.since(since) if journal else []
    result.worse_intents = worse_intents(live_scores(project, progress), evaluation.per_intent)
    result.suspects = suspects(changes, result.worse_intents, evaluation.confused_pairs)
    if not evaluation.passed:
        result.headline = (
            f"Not promoted: the new model understands the test sentences less well "
            f"(score {evaluation.macro_f1:.3f}, it must stay at or above "
            f"{evaluation.baseline - evaluation.allowed_drop:.3f}). The live model stays."
        )
        result.next_step = (
            "Look at the changes listed above: undo any that look wrong in History, "
            "or add clearer examples for the intents that got worse, then retrain."
        )
        return result

    progress(f"[3/{STEPS}] Checking safety with the candidate: running")
    gate, floor = run_safety_gate(project, candidate)
    result.safety = gate.figures()
    result.safety_worse = safety_problems(gate, floor)
    progress(f"[3/{STEPS}] Checking safety with the candidate: done")
    if result.safety_worse:
        busy = busy_replies(gate)
        result.headline = (
            "Not promoted: with the new model, the bot handles some safety test cases "
            "worse than the live bot. The live model stays."
        )
        result.next_step = (
            "Undo recent changes that touch health questions, one at a time, and retrain. "
            "Ask a developer if it keeps failing."
        )
        if busy:
            result.next_step += (
                f" {busy} replies ran out of time, so the computer may have been too busy:"
                " retrying later may pass."
            )
        return result

    progress(f"[4/{STEPS}] Making it the live model: running")
    promote(project, candidate, evaluation, result.safety)
    result.bots = tell_bots(project.model)
    progress(f"[4/{STEPS}] Making it the live model: done")
    result.promoted = True
    result.headline = (
        f"Promoted: the new model is live (score {evaluation.macro_f1:.3f}, "
        "safety checks no worse than before)."
    )
    result.next_step = "Try it in the chat. Keep reviewing the inbox."
    return result
