"""Rasa component: Rasa's LogisticRegressionClassifier, which also names the intent of the
message's question on its own ("my arm tingles a bit, what causes spasms?": ask_causes).

The message keeps the intent of its whole text, unless that is one of config.yml's
`question_wins_over` (yes and no): "no chest pain, no fever, just stiff. what helps?" is a
question, not a "no". The question's intent is also what the bot answers when the safety
layer holds the message for its triage question and the user says no: the statement was
the sign the triage question asked about.

Its weights are saved as plain arrays, not with Rasa's skops: importing skops takes 5.7 s
of the server's start-up (it imports every sklearn estimator), and the arrays load
without pickle.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from rasa.engine.graph import ExecutionContext
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import INTENT, INTENT_RANKING_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.utils.tensorflow.constants import RANKING_LENGTH
from scipy.sparse import csr_matrix, spmatrix
from scipy.special import expit, softmax
from sklearn.linear_model import LogisticRegression

from bot.knowledge import question_spans
from bot.nlu.names import QUESTION_INTENT

WEIGHTS_FILE = "weights.npz"


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LogisticRegressionWithQuestionIntent(LogisticRegressionClassifier):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**LogisticRegressionClassifier.get_default_config(), "question_wins_over": []}

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """The weights' file format: Rasa's training cache must not reuse a skops file."""
        return WEIGHTS_FILE

    def process(self, messages: list[Message]) -> list[Message]:
        """Rasa's LogisticRegressionClassifier.process, the same ranking, scored by
        `probabilities`: Rasa's stacking of one message's features and sklearn's checks
        took 1.4 ms of the 5.4 ms a message's understanding takes."""
        small_talk = set(self.config["question_wins_over"])
        for message in messages:
            ranking = self._ranking(self._sentence_features(message))
            message.set(INTENT, ranking[0], add_to_output=True)
            if self.config[RANKING_LENGTH] > 0:
                ranking = ranking[: self.config[RANKING_LENGTH]]
            message.set(INTENT_RANKING_KEY, ranking, add_to_output=True)
            features = _question_features(message)
            if features is None:
                continue
            asked = self._ranking(features)[0]
            message.set(QUESTION_INTENT, asked, add_to_output=True)
            if message.get(INTENT)["name"] in small_talk and asked["name"] not in small_talk:
                message.set(INTENT, asked, add_to_output=True)
        return messages

    def _sentence_features(self, message: Message) -> spmatrix:
        sparse, dense = message.get_sparse_features(TEXT)[1], message.get_dense_features(TEXT)[1]
        if sparse is None or dense is not None:
            return self._create_X([message])  # Rasa's own stacking of both kinds
        return sparse.features

    def _ranking(self, features: spmatrix) -> list[dict[str, Any]]:
        """Every intent with its probability, the most likely first."""
        scored = zip(self.clf.classes_, probabilities(self.clf, features), strict=True)
        ranking = [{"name": str(name), "confidence": float(p)} for name, p in scored]
        return sorted(ranking, key=lambda intent: -intent["confidence"])

    def persist(self) -> None:
        with self._model_storage.write_to(self._resource) as directory:
            np.savez(
                directory / WEIGHTS_FILE,
                coef=self.clf.coef_,
                intercept=self.clf.intercept_,
                classes=np.asarray(self.clf.classes_, dtype=str),
            )

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> LogisticRegressionWithQuestionIntent:
        """Fails when the model has no weights: a classifier left untrained would fail
        every message instead."""
        component = cls(config, execution_context.node_name, model_storage, resource)
        with (
            model_storage.read_from(resource) as directory,
            np.load(directory / WEIGHTS_FILE, allow_pickle=False) as weights,
        ):
            component.clf.coef_ = weights["coef"]
            component.clf.intercept_ = weights["intercept"]
            component.clf.classes_ = weights["classes"]
        return component


def probabilities(model: LogisticRegression, features: spmatrix) -> np.ndarray:
    """model.predict_proba of one row of features, computed from the weights alone."""
    scores = np.asarray(features @ model.coef_.T).ravel() + model.intercept_
    if len(scores) == 1:  # two intents: one logistic score, as sklearn does
        return np.array([1 - expit(scores[0]), expit(scores[0])])
    return softmax(scores)


def _question_features(message: Message) -> csr_matrix | None:
    """The sentence features of the question clauses alone, when the message also has a
    statement: the count vectors' rows for the question's tokens, summed, as the sentence
    features of a whole message are."""
    spans = question_spans(message.get(TEXT) or "")
    tokens = message.get(TOKENS_NAMES[TEXT]) or []
    inside = [i for i, t in enumerate(tokens) if any(b <= t.start < e for b, e in spans)]
    # Most messages are all question or all statement: they need no features gathered.
    if not inside or len(inside) == len(tokens):
        return None
    sequence, _ = message.get_sparse_features(TEXT)
    dense, _ = message.get_dense_features(TEXT)
    # Only count vectors sum like this; with dense features the whole message decides.
    if sequence is None or dense is not None:
        return None
    return csr_matrix(sequence.features.tocsr()[inside].sum(axis=0))
