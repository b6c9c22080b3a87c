"""Rasa component: the spaCy entity ruler's topic matches as Rasa `topic` entities.

Unlike Rasa's SpacyEntityExtractor it reuses the doc SpacyNLP already made and uses the
ruler's pattern ids (the topic names of data/lexicon/topics.yml) as entity values. Safety
signs and durations are not entities: the safety layer (bot/nlu/safety_layer.py) reads them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from rasa.engine.graph import ExecutionContext, GraphComponent
from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.engine.storage.resource import Resource
from rasa.engine.storage.storage import ModelStorage
from rasa.nlu.constants import SPACY_DOCS
from rasa.nlu.extractors.extractor import EntityExtractorMixin
from rasa.nlu.utils.spacy_utils import SpacyNLP
from rasa.shared.nlu.constants import ENTITIES, TEXT
from rasa.shared.nlu.training_data.message import Message

from bot import ROOT

TOPIC_LEXICON = ROOT / "data" / "lexicon" / "topics.yml"


def topic_phrases(path: Path = TOPIC_LEXICON) -> dict[str, list[str]]:
    """Topic name -> the words people use for it; compiled into the spaCy pipeline."""
    return yaml.safe_load(path.read_text(encoding="utf-8"))["topics"]


@DefaultV1Recipe.register(DefaultV1Recipe.ComponentType.ENTITY_EXTRACTOR, is_trainable=False)
class TopicEntityExtractor(GraphComponent, EntityExtractorMixin):
    @classmethod
    def required_components(cls) -> list[type]:
        return [SpacyNLP]

    @classmethod
    def create(
        cls,
        config: dict[str, Any],
        model_storage: ModelStorage,
        resource: Resource,
        execution_context: ExecutionContext,
    ) -> TopicEntityExtractor:
        return cls()

    def process(self, messages: list[Message]) -> list[Message]:
        for message in messages:
            doc = message.get(SPACY_DOCS[TEXT])
            if doc is None:
                continue
            entities = [
                {
                    "entity": span.label_,
                    "value": span.ent_id_ or span.text,
                    "start": span.start_char,
                    "end": span.end_char,
                }
                for span in doc.ents
            ]
            entities = self.add_extractor_name(entities)
            message.set(ENTITIES, message.get(ENTITIES, []) + entities, add_to_output=True)
        return messages
