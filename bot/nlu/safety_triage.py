"""Rasa component: safety signs decide the intent, whatever the classifier thought.

A message that mentions a red flag ("...and I have chest pain") is routed to the red-flag
intent even when it also asks something else. A safety intent the spaCy rules did not
confirm (the sign is only denied, or the classifier is unsure) falls back to "not
understood" rather than to an alarming guess.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.shared.constants import DEFAULT_NLU_FALLBACK_INTENT_NAME
from rasa.shared.nlu.constants import (
    ENTITIES,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
)
from rasa.shared.nlu.training_data.message import Message

from bot.nlu.names import NEGATED_ROLE


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=False)
class SafetyTriage(GraphComponent, IntentClassifier):
    @classmethod
    def required_components(cls) -> list[type]:
        return [IntentClassifier]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # Entity -> intent, most urgent first.
            "intent_for_entity": {},
            # A safety intent without its entity needs this much classifier confidence.
            "unconfirmed_threshold": 0.5,
        }

    def __init__(self, config: dict[str, Any]) -> None:
        self.intent_for_entity: dict[str, str] = config["intent_for_entity"]
        self.unconfirmed_threshold: float = config["unconfirmed_threshold"]

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SafetyTriage:
        return cls(config)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            intent = self.triaged_intent(message)
            if intent is not None:
                self.set_intent(message, intent, confidence=1.0)
        return messages

    def triaged_intent(self, message: Message) -> str | None:
        entities = message.get(ENTITIES, [])
        mentioned = {e["entity"] for e in entities if e.get("role") != NEGATED_ROLE}
        negated = {e["entity"] for e in entities if e.get("role") == NEGATED_ROLE}
        for entity, intent in self.intent_for_entity.items():
            if entity in mentioned:
                return intent
        predicted = message.get(INTENT) or {}
        if predicted.get(INTENT_NAME_KEY) not in self.intent_for_entity.values():
            return None
        # The classifier alone chose a safety intent. A denial ("i don't have chest pain")
        # or a weak guess ("my cat is sick") is answered "not understood" instead.
        denied = any(entity in self.intent_for_entity for entity in negated)
        weak = predicted.get(PREDICTED_CONFIDENCE_KEY, 0.0) < self.unconfirmed_threshold
        return DEFAULT_NLU_FALLBACK_INTENT_NAME if denied or weak else None

    @staticmethod
    def set_intent(message: Message, intent: str, confidence: float) -> None:
        chosen = {INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: confidence}
        others = [
            r
            for r in message.get(INTENT_RANKING_KEY, [])
            if r[INTENT_NAME_KEY] != chosen[INTENT_NAME_KEY]
        ]
        message.set(INTENT, chosen, add_to_output=True)
        message.set(INTENT_RANKING_KEY, [chosen, *others], add_to_output=True)
