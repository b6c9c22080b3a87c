"""The safety classifier: a second, independent signal beside the concept rules.

Character and word n-grams into a logistic regression, trained on data/safety/
paraphrases.yml (ways to say each concept) against look-alikes and the intent data's
ordinary questions. It never raises an alarm alone: when it sees a red flag that the
rules did not, the bot asks the triage question.
"""

from __future__ import annotations

import math
from collections import Counter
from pathlib import Path

import numpy as np
import yaml
from sklearn.feature_extraction.text import TfidfVectorizer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import FeatureUnion, Pipeline

from bot import ROOT

PARAPHRASES_FILE = ROOT / "data" / "safety" / "paraphrases.yml"
NONE = "none"


def read_paraphrases(path: Path = PARAPHRASES_FILE) -> dict[str, list[str]]:
    return yaml.safe_load(path.read_text(encoding="utf-8"))["paraphrases"]


def _vectorizers() -> list[tuple[str, TfidfVectorizer]]:
    return [
        (
            "chars",
            TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True, min_df=1),
        ),
        ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True)),
    ]


def fit_pipeline(paraphrases: dict[str, list[str]], ordinary: list[str]) -> Pipeline:
    texts, labels = [], []
    for label, examples in paraphrases.items():
        texts += [e.lower() for e in examples]
        labels += [label] * len(examples)
    texts += [t.lower() for t in ordinary]
    labels += [NONE] * len(ordinary)
    pipeline = Pipeline(
        [
            ("features", FeatureUnion(_vectorizers())),
            ("model", LogisticRegression(C=10, class_weight="balanced", max_iter=2000)),
        ]
    )
    return pipeline.fit(texts, labels)


class SafetyClassifier:
    """Scores a message with the fitted weights alone: the same numbers as the sklearn
    pipeline's predict_proba, in ~0.1 ms instead of ~1 ms of sklearn overhead.

    The weights are saved as plain arrays: loading them needs neither pickle nor skops,
    whose import alone took 5.7 s of the server's start-up (it imports all of sklearn).
    """

    def __init__(self, arrays: dict[str, np.ndarray]) -> None:
        self.arrays = arrays
        self.parts = []
        offset = 0
        for name, vectorizer in _vectorizers():
            terms = arrays[f"{name}_terms"]
            vocabulary = {str(term): i for i, term in enumerate(terms)}
            analyzer = vectorizer.build_analyzer()
            self.parts.append((analyzer, vocabulary, arrays[f"{name}_idf"], offset))
            offset += len(terms)
        self.coef, self.intercept = arrays["coef"], arrays["intercept"]
        self.classes = arrays["classes"]

    @classmethod
    def from_pipeline(cls, pipeline: Pipeline) -> SafetyClassifier:
        arrays = {}
        for name, vectorizer in pipeline.named_steps["features"].transformer_list:
            vocabulary = vectorizer.vocabulary_
            arrays[f"{name}_terms"] = np.array(sorted(vocabulary, key=vocabulary.get), dtype=str)
            arrays[f"{name}_idf"] = vectorizer.idf_
        model = pipeline.named_steps["model"]
        arrays |= {"coef": model.coef_, "intercept": model.intercept_}
        arrays["classes"] = np.asarray(model.classes_, dtype=str)
        return cls(arrays)

    @classmethod
    def train(cls, paraphrases: dict[str, list[str]], ordinary: list[str]) -> SafetyClassifier:
        return cls.from_pipeline(fit_pipeline(paraphrases, ordinary))

    def predict(self, text: str) -> tuple[str, float]:
        """The most likely concept (or "none") and its probability."""
        columns, values = [], []
        for analyzer, vocabulary, idf, offset in self.parts:
            counts = Counter(term for term in analyzer(text.lower()) if term in vocabulary)
            if not counts:
                continue
            indices = [vocabulary[term] for term in counts]
            # TfidfVectorizer with sublinear_tf and l2 norm, one vectorizer at a time.
            weights = np.array([1 + math.log(n) for n in counts.values()]) * idf[indices]
            values.append(weights / np.linalg.norm(weights))
            columns += [offset + i for i in indices]
        scores = self.intercept.copy()
        if columns:
            scores += self.coef[:, columns] @ np.concatenate(values)
        probabilities = np.exp(scores - scores.max())
        probabilities /= probabilities.sum()
        best = probabilities.argmax()
        return str(self.classes[best]), float(probabilities[best])

    def save(self, path: Path) -> None:
        np.savez(path, **self.arrays)

    @classmethod
    def load(cls, path: Path) -> SafetyClassifier:
        with np.load(path, allow_pickle=False) as saved:
            return cls({name: saved[name] for name in saved.files})
