"""`make compare-classifiers`: intent classifiers compared on the held-out halves.

Each candidate is config.yml with only its intent classifier swapped, trained on the same
data, then scored by `rasa test nlu` on both held-out halves. Reported per candidate:
macro F1, the worst intent, training time, and the p50 time of the whole NLU parse per
message (in-process, so the difference between candidates is what the classifier adds).
Writes bench/classifiers.json; the README's table comes from it.
"""

from __future__ import annotations

import asyncio
import copy
import json
import os
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

import yaml

from ops.launcher import RASA, SERVER_ENV
from ops.settings import ROOT

RESULTS = ROOT / "bench" / "classifiers.json"
# Chosen on the dev half; the test half reports what to expect.
NLU_DIR = ROOT / "tests" / "nlu"
HALVES = {"dev": NLU_DIR / "dev_nlu.yml", "test": NLU_DIR / "test_nlu.yml"}
CURRENT = "LogisticRegressionClassifier"
CANDIDATES = {
    "count vectors (words + char 2-4) + logistic regression (current)": None,
    "count vectors (words only) + logistic regression": "words_only",
    "count vectors (words + char 2-4) + logistic regression, 1000 iterations": {
        "name": CURRENT, "max_iter": 1000},
    "DIET, same features, 20 epochs": {"name": "DIETClassifier", "epochs": 20,
                                       "entity_recognition": False, "constrain_similarities": True},
    "DIET, same features, 60 epochs": {"name": "DIETClassifier", "epochs": 60,
                                       "entity_recognition": False, "constrain_similarities": True},
}  # fmt: skip
TIMED_MESSAGES = 300


def candidate_config(change: dict | str | None) -> dict:
    config = yaml.safe_load((ROOT / "config.yml").read_text())
    pipeline = config["pipeline"]
    if change == "words_only":
        config["pipeline"] = [c for c in pipeline if c.get("analyzer") != "char_wb"]
    elif change is not None:
        index = next(i for i, c in enumerate(pipeline) if c["name"] == CURRENT)
        pipeline[index] = copy.deepcopy(change)
    return config


def rasa(*args: str) -> None:
    result = subprocess.run([RASA, *args], cwd=ROOT, env={**os.environ, **SERVER_ENV},
                            capture_output=True, text=True)  # fmt: skip
    if result.returncode != 0:
        raise RuntimeError(f"rasa {args[0]} failed:\n{result.stderr[-3000:]}")


def parse_p50_ms(model: Path, texts: list[str]) -> float:
    from rasa.core.agent import Agent

    agent = Agent.load(str(model))

    async def timed() -> list[float]:
        timings = []
        for text in texts:
            started = time.perf_counter()
            await agent.parse_message(text)
            timings.append((time.perf_counter() - started) * 1000)
        return timings

    return statistics.median(asyncio.run(timed()))


def measure(change: dict | str | None, work: Path) -> dict:
    config = work / "config.yml"
    config.write_text(yaml.safe_dump(candidate_config(change), sort_keys=False))
    started = time.monotonic()
    rasa("train", "nlu", "--config", str(config), "--out", str(work), "--fixed-model-name", "nlu")
    train_s = time.monotonic() - started
    model = work / "nlu.tar.gz"
    figures: dict = {"train_s": round(train_s, 1)}
    for half, path in HALVES.items():
        out = work / half
        rasa("test", "nlu", "--nlu", str(path), "--model", str(model), "--out", str(out))
        report = json.loads((out / "intent_report.json").read_text())
        per_intent = {k: v["f1-score"] for k, v in report.items() if isinstance(v, dict)
                      and "support" in v and not k.endswith(" avg")}  # fmt: skip
        worst = min(per_intent, key=per_intent.get)
        figures[half] = {
            "macro_f1": round(report["macro avg"]["f1-score"], 4),
            "worst_intent": worst,
            "worst_f1": round(per_intent[worst], 4),
        }
    from rasa.shared.nlu.training_data.loading import load_data

    examples = load_data(str(HALVES["dev"])).training_examples[:TIMED_MESSAGES]
    figures["parse_p50_ms"] = round(parse_p50_ms(model, [m.get("text") for m in examples]), 2)
    return figures


def main() -> None:
    results = {}
    for name, change in CANDIDATES.items():
        print(f"{name}...", flush=True)
        with tempfile.TemporaryDirectory() as work:
            results[name] = measure(change, Path(work))
        print(f"  {results[name]}", flush=True)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
