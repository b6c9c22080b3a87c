"""Rasa component: a message with no word the training data has ever used is not understood.

The intent classifier reads character n-grams too, so it gives a confident guess even for
"flibber jabberwock snorkelgrum". This component zeroes the classifier's confidence
when none of the message's words (nor their lemmas) occurs in the training examples, or is a
typo of one (RapidFuzz ratio, letters repeated for emphasis squeezed: "thankssss", "hii");
the FallbackClassifier after it then answers "not understood". Numbers count as known ("3
wks"). It runs before the safety layer, which reads every message on its own.
"""

from __future__ import annotations

import json
import re
from typing import Any

from rapidfuzz import fuzz, process
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import TOKENS_NAMES
from rasa.nlu.tokenizers.tokenizer import Token, Tokenizer
from rasa.shared.nlu.constants import INTENT, PREDICTED_CONFIDENCE_KEY, TEXT
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

VOCABULARY_FILE = "vocabulary.json"
# As alike as "hii" and "hi", or "myofacial" and "myofascial".
TYPO_MIN_RATIO = 80
REPEATED_LETTERS = re.compile(r"(\w)\1{2,}")


def _forms(token: Token) -> set[str]:
    return {token.text.lower(), (token.lemma or "").lower()} - {""}


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True)
class UnknownWordsFallback(GraphComponent, IntentClassifier):
    @classmethod
    def required_components(cls) -> list[type]:
        return [Tokenizer]

    def __init__(
        self,
        model_storage: ModelStorage,
        resource: Resource,
        vocabulary: frozenset[str] = frozenset(),
    ) -> None:
        self.model_storage = model_storage
        self.resource = resource
        self.vocabulary = vocabulary

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> UnknownWordsFallback:
        return cls(model_storage, resource)

    def train(self, training_data: TrainingData) -> Resource:
        words = {
            form
            for message in training_data.intent_examples
            for token in message.get(TOKENS_NAMES[TEXT], [])
            for form in _forms(token)
        }
        with self.model_storage.write_to(self.resource) as directory:
            (directory / VOCABULARY_FILE).write_text(json.dumps(sorted(words)), encoding="utf-8")
        return self.resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> UnknownWordsFallback:
        with model_storage.read_from(resource) as directory:
            words = json.loads((directory / VOCABULARY_FILE).read_text(encoding="utf-8"))
        return cls(model_storage, resource, frozenset(words))

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def knows_a_word(self, message: Message) -> bool:
        tokens = message.get(TOKENS_NAMES[TEXT], [])
        words = [t.text.lower() for t in tokens if any(c.isalnum() for c in t.text)]
        if not words or any(any(c.isdigit() for c in w) for w in words):
            return True
        if any(_forms(t) & self.vocabulary for t in tokens):
            return True
        return any(
            process.extractOne(
                REPEATED_LETTERS.sub(r"\1\1", w), self.vocabulary, scorer=fuzz.ratio,
                score_cutoff=TYPO_MIN_RATIO,
            )
            for w in words
        )  # fmt: skip

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            intent = message.get(INTENT)
            if intent and not self.knows_a_word(message):
                message.set(INTENT, {**intent, PREDICTED_CONFIDENCE_KEY: 0.0}, add_to_output=True)
        return messages
