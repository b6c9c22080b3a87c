"""The safety classifier: a second, independent signal beside the concept rules.

Character and word n-grams into a logistic regression, trained on data/safety/
paraphrases.yml (ways to say each concept) against look-alikes and the intent data's
ordinary questions. It never raises an alarm alone: when it sees a red flag that the
rules did not, the bot asks the triage question.
"""

from __future__ import annotations

from pathlib import Path

import skops.io as sio
import yaml
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from bot import ROOT

PARAPHRASES_FILE = ROOT / "data" / "safety" / "paraphrases.yml"
NONE = "none"


def read_paraphrases(path: Path = PARAPHRASES_FILE) -> dict[str, list[str]]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["paraphrases"]


class SafetyClassifier:
    def __init__(self, pipeline: Pipeline) -> None:
        self.pipeline = pipeline

    @classmethod
    def train(cls, paraphrases: dict[str, list[str]], ordinary: list[str]) -> SafetyClassifier:
        texts, labels = [], []
        for label, examples in paraphrases.items():
            texts += [e.lower() for e in examples]
            labels += [label] * len(examples)
        texts += [t.lower() for t in ordinary]
        labels += [NONE] * len(ordinary)
        pipeline = Pipeline(
            [
                (
                    "features",
                    FeatureUnion(
                        [
                            (
                                "chars",
                                TfidfVectorizer(
                                    analyzer="char_wb",
                                    ngram_range=(3, 5),
                                    sublinear_tf=True,
                                    min_df=1,
                                ),
                            ),
                            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
                        ]
                    ),
                ),
                ("model", LogisticRegression(C=10, class_weight="balanced", max_iter=2000)),
            ]
        )
        pipeline.fit(texts, labels)
        return cls(pipeline)

    def predict(self, text: str) -> tuple[str, float]:
        """The most likely concept (or "none") and its probability."""
        probabilities = self.pipeline.predict_proba([text.lower()])[0]
        best = probabilities.argmax()
        return str(self.pipeline.classes_[best]), float(probabilities[best])

    def save(self, path: Path) -> None:
        sio.dump(self.pipeline, path)

    @classmethod
    def load(cls, path: Path) -> SafetyClassifier:
        return cls(sio.load(path, trusted=sio.get_untrusted_types(file=path)))
