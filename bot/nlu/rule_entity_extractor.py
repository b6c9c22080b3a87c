"""Rasa component: the spaCy entity ruler's matches as Rasa entities.

Unlike Rasa's SpacyEntityExtractor it reuses the doc SpacyNLP already made, uses the
ruler's pattern ids as entity values, marks negated symptoms ("no chest pain") with the
role `negated`, and adds a `pain_persistence` entity when the pain has lasted long enough.
"""

from __future__ import annotations

from typing import Any

from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import SPACY_DOCS
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.utils.spacy_utils import SpacyNLP
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message
from spacy.tokens import Span

from bot.nlu.durations import days_in
from bot.nlu.names import NEGATED_ROLE, PERSISTENCE_ENTITY, PERSISTENT

NEGATION_CUES = {"no", "not", "n't", "nt", "never", "without", "nor", "none", "denies"}
# Phrases that start with a cue but negate nothing: "not sure if it's chest pain",
# "i can't stop sweating".
PSEUDO_NEGATIONS = {
    ("not", "sure"),
    ("no", "idea"),
    ("not", "only"),
    ("no", "matter"),
    ("not", "stop"),
    ("n't", "stop"),
    ("nt", "stop"),
}
# A negation does not reach past these: "no fever but chest pain".
CLAUSE_BREAKS = {"but", "although", "though", "however", "yet", "except", "and", "so", "because"}
NEGATION_WINDOW = 5


def is_negated(span: Span) -> bool:
    doc = span.doc
    for i in range(span.start - 1, max(span.start - 1 - NEGATION_WINDOW, -1), -1):
        word = doc[i].lower_
        if doc[i].is_punct or word in CLAUSE_BREAKS:
            return False
        if word in NEGATION_CUES:
            next_word = doc[i + 1].lower_
            return (word, next_word) not in PSEUDO_NEGATIONS
    return False


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class RuleEntityExtractor(GraphComponent, EntityExtractorMixin):
    @classmethod
    def required_components(cls) -> list[type]:
        return [SpacyNLP]

    @staticmethod
    def get_default_config() -> dict[str, Any]:
        return {
            # Entity labels whose negated mentions get the role `negated`.
            "negatable_entities": ["red_flag", "urgent_flag"],
            # Pain that has lasted this many days or more counts as persistent.
            "persistent_after_days": 3,
        }

    def __init__(self, config: dict[str, Any]) -> None:
        self.negatable = set(config["negatable_entities"])
        self.persistent_after_days = config["persistent_after_days"]

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> RuleEntityExtractor:
        return cls(config)

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            doc = message.get(SPACY_DOCS[TEXT])
            if doc is None:
                continue
            entities = self.add_extractor_name(self.entities(doc.ents))
            message.set(ENTITIES, message.get(ENTITIES, []) + entities, add_to_output=True)
        return messages

    def entities(self, spans: tuple[Span, ...]) -> list[dict[str, Any]]:
        entities = []
        for span in spans:
            entity = {
                "entity": span.label_,
                "value": span.ent_id_ or span.text,
                "start": span.start_char,
                "end": span.end_char,
            }
            if span.label_ in self.negatable and is_negated(span):
                entity["role"] = NEGATED_ROLE
            entities.append(entity)
            if self.shows_persistence(span):
                entities.append({**entity, "entity": PERSISTENCE_ENTITY, "value": PERSISTENT})
        return entities

    def shows_persistence(self, span: Span) -> bool:
        if span.label_ == "persistence_cue":
            return True
        if span.label_ == "duration":
            days = days_in(span.text)
            return days is not None and days >= self.persistent_after_days
        return False
