"""Rasa component: Rasa's LogisticRegressionClassifier, which also names the intent of the
message's question on its own ("my arm tingles a bit, what causes spasms?": ask_causes).

The message keeps the intent of its whole text, unless that is one of config.yml's
`question_wins_over` (yes and no): "no chest pain, no fever, just stiff. what helps?" is a
question, not a "no". The question's intent is also what the bot answers when the safety
layer holds the message for its triage question and the user says no: the statement was
the sign the triage question asked about.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.classifiers.logistic_regression_classifier import LogisticRegressionClassifier
from rasa.nlu.constants import TOKENS_NAMES
from rasa.shared.nlu.constants import INTENT, TEXT
from rasa.shared.nlu.training_data.message import Message
from scipy.sparse import csr_matrix

from bot.knowledge import question_spans
from bot.nlu.names import QUESTION_INTENT


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class LogisticRegressionWithQuestionIntent(LogisticRegressionClassifier):
    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {**LogisticRegressionClassifier.get_default_config(), "question_wins_over": []}

    def process(self, messages: list[Message]) -> list[Message]:
        messages = super().process(messages)
        small_talk = set(self.config["question_wins_over"])
        for message in messages:
            features = _question_features(message)
            if features is None:
                continue
            probabilities = self.clf.predict_proba(features)[0]
            best = probabilities.argmax()
            asked = {"name": self.clf.classes_[best], "confidence": float(probabilities[best])}
            message.set(QUESTION_INTENT, asked, add_to_output=True)
            if message.get(INTENT)["name"] in small_talk and asked["name"] not in small_talk:
                message.set(INTENT, asked, add_to_output=True)
        return messages


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
