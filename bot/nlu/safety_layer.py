"""Rasa component: the safety layer decides emergencies, not the intent classifier.

Runs after the intent classifier. The concept rules (read with medspaCy's ConText) and the
safety classifier (bot/nlu/safety/) give a decision:
  emergency -> intent report_red_flag        (rules: utter_emergency, first and alone)
  urgent    -> intent report_urgent_symptom  (rules: utter_urgent_care)
  triage    -> intent unconfirmed_red_flag   (rules: the triage question; "no" answers
               the question the classifier heard, kept as `held_intent` in the decision;
               for a statement plus a question, the question's own intent)
and persistent pain adds a `pain_persistence` entity. The decision and its evidence go
into the parse data as `safety`, so the tracker keeps them with the user's message.
"""

from __future__ import annotations

import hashlib
import shutil
from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.classifiers.classifier import IntentClassifier
from rasa.nlu.constants import SPACY_DOCS
from rasa.nlu.utils.spacy_utils import SpacyModel, SpacyNLP
from rasa.shared.nlu.constants import (
    ENTITIES,
    INTENT,
    INTENT_NAME_KEY,
    INTENT_RANKING_KEY,
    PREDICTED_CONFIDENCE_KEY,
    TEXT,
)
from rasa.shared.nlu.training_data.message import Message
from rasa.shared.nlu.training_data.training_data import TrainingData

from bot.nlu.names import PERSISTENCE_ENTITY, PERSISTENT, QUESTION_INTENT, SAFETY_KEY
from bot.nlu.safety import assessor as safety
from bot.nlu.safety.classifier import PARAPHRASES_FILE, SafetyClassifier, read_paraphrases
from bot.nlu.safety.concepts import CONCEPTS_FILE
from bot.nlu.safety.context import CONTEXT_RULES_FILE
from bot.nlu.safety.persistence import PERSISTENCE_FILE

# The data the layer is built from; the model keeps its own copy of each.
DATA_FILES = (CONCEPTS_FILE, CONTEXT_RULES_FILE, PERSISTENCE_FILE, PARAPHRASES_FILE)
CLASSIFIER_FILE = "safety_classifier.npz"


@DefaultV1Recipe.register(
    DefaultV1Recipe.ComponentType.INTENT_CLASSIFIER, is_trainable=True, model_from="SpacyNLP"
)
class SafetyLayer(GraphComponent, IntentClassifier):
    @classmethod
    def required_components(cls) -> list[type]:
        # After the intent classifier in config.yml: it overrides that intent when it must.
        return [SpacyNLP]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # Decision -> the intent Rasa's rules route on.
            "intent_for_decision": {
                safety.EMERGENCY: "report_red_flag",
                safety.URGENT: "report_urgent_symptom",
                safety.TRIAGE: "unconfirmed_red_flag",
            },
            # The safety classifier alone asks the triage question from this confidence.
            "triage_confidence": 0.7,
            # Intents whose examples train the classifier as ordinary, non-alarm messages.
            "ordinary_intents_exclude": [],
        }

    @classmethod
    def fingerprint_addon(cls, config: dict[str, Any]) -> str | None:
        """Retrain when the safety data changes, not only when the NLU data does, and when
        the classifier's file format does (a cached older one would not load)."""
        digest = hashlib.sha256(CLASSIFIER_FILE.encode())
        for path in DATA_FILES:
            digest.update(path.read_bytes())
        return digest.hexdigest()

    def __init__(
        self,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        classifier: SafetyClassifier | None = None,
        sources: dict[str, str] | None = None,
    ) -> None:
        self.config = config
        self.model_storage = model_storage
        self.resource = resource
        self.classifier = classifier
        self.sources = sources
        self.assessor: safety.SafetyAssessor | None = None

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> SafetyLayer:
        return cls(config, model_storage, resource)

    def train(self, training_data: TrainingData, model: SpacyModel) -> Resource:
        excluded = set(self.config["intent_for_decision"].values())
        excluded |= set(self.config["ordinary_intents_exclude"])
        ordinary = [
            m.get(TEXT)
            for m in training_data.intent_examples
            if m.get(INTENT) not in excluded and not m.get(TEXT, "").startswith("/")
        ]
        classifier = SafetyClassifier.train(read_paraphrases(), ordinary)
        # Compiling the rules here makes a broken data file fail training, not a message.
        safety.SafetyAssessor(model.model, classifier, self.config["triage_confidence"])
        with self.model_storage.write_to(self.resource) as directory:
            classifier.save(directory / CLASSIFIER_FILE)
            for path in DATA_FILES:
                shutil.copy(path, directory / path.name)
        return self.resource

    @classmethod
    def load(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
        **kwargs: Any,
    ) -> SafetyLayer:
        with model_storage.read_from(resource) as directory:
            classifier = SafetyClassifier.load(directory / CLASSIFIER_FILE)
            # The model's own copy of the rules: what it was trained and tested with.
            sources = {p.name: (directory / p.name).read_text(encoding="utf-8") for p in DATA_FILES}
        return cls(config, model_storage, resource, classifier, sources)

    def process_training_data(self, training_data: TrainingData) -> TrainingData:
        return training_data

    def process(self, messages: list[Message], model: SpacyModel) -> list[Message]:
        if self.assessor is None:
            # Built on first use: ConText needs the loaded spaCy pipeline's vocabulary.
            self.assessor = safety.SafetyAssessor(
                model.model,
                self.classifier,
                self.config["triage_confidence"],
                self.sources,
            )
        for message in messages:
            doc = message.get(SPACY_DOCS[TEXT])
            if doc is not None:
                self.apply(message, self.assessor.assess(doc))
        return messages

    def apply(self, message: Message, assessment: dict) -> None:
        # "No" to the triage question answers the question, not the sign it asked about.
        predicted = message.get(QUESTION_INTENT) or message.get(INTENT) or {}
        assessment["held_intent"] = predicted.get(INTENT_NAME_KEY)
        message.set(SAFETY_KEY, assessment, add_to_output=True)
        if assessment["persistence"] is not None:
            entity = {
                "entity": PERSISTENCE_ENTITY,
                "value": PERSISTENT,
                "start": 0,
                "end": len(message.get(TEXT, "")),
                "extractor": self.__class__.__name__,
            }
            message.set(ENTITIES, [*message.get(ENTITIES, []), entity], add_to_output=True)
        intent = self.config["intent_for_decision"].get(assessment["decision"])
        if intent is not None:
            chosen = {INTENT_NAME_KEY: intent, PREDICTED_CONFIDENCE_KEY: 1.0}
            others = [
                r for r in message.get(INTENT_RANKING_KEY, []) if r[INTENT_NAME_KEY] != intent
            ]
            message.set(INTENT, chosen, add_to_output=True)
            message.set(INTENT_RANKING_KEY, [chosen, *others], add_to_output=True)
