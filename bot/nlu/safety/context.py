"""Whether a concept mention is the writer's own, current problem: medspaCy's ConText.

The rules (negation, past and resolved, hypothetical or general, someone else, exertion)
live in data/safety/context_rules.json; medspaCy applies them within each sentence.
"""

from __future__ import annotations

import json

from medspacy.context import ConText, ConTextRule
from spacy.language import Language
from spacy.tokens import Doc

from bot import ROOT
from bot.nlu.safety.concepts import Match

CONTEXT_RULES_FILE = ROOT / "data" / "safety" / "context_rules.json"
TARGETS = "safety_targets"
# Categories that say a mention is not a current problem of the writer's.
NOT_CURRENT = {
    "NEGATED_EXISTENCE",
    "HISTORICAL",
    "RESOLVED",
    "HYPOTHETICAL",
    "OTHER_PERSON",
    "EXERTION",
    "ENVIRONMENT",
}
# Markers (CONTRAST, PRESENT, SELF) only end other rules' reach; they change nothing alone.


class ContextReader:
    def __init__(self, nlp: Language, source: str | None = None) -> None:
        source = source or CONTEXT_RULES_FILE.read_text(encoding="utf-8")
        self.context = ConText(nlp, rules=None, input_span_type="group", span_group_name=TARGETS)
        # ConTextRule itself, not from_dict: from_dict does not accept `terminated_by`.
        self.context.add([ConTextRule(**rule) for rule in json.loads(source)["context_rules"]])

    def read(self, doc: Doc, matches: list[Match]) -> list[list[dict[str, str]]]:
        """For each match, the modifiers that reach it: [{"category", "words"}]."""
        if not matches:
            return []
        before = set(doc.user_data)
        doc.spans[TARGETS] = [m.span(doc) for m in matches]
        self.context(doc)
        try:
            return self._modifiers(doc, matches)
        finally:
            # The doc is Rasa's, and Rasa deep-copies parse data (`rasa test nlu` on a
            # fallback): ConText's spans and graph in it would make that fail.
            for key in set(doc.user_data) - before:
                del doc.user_data[key]
            del doc.spans[TARGETS]

    @staticmethod
    def _modifiers(doc: Doc, matches: list[Match]) -> list[list[dict[str, str]]]:
        return [
            [
                {"category": modifier.category, "words": doc[slice(*modifier.modifier_span)].text}
                for modifier in span._.modifiers
                # A cue that is one of the mention's own words ("does n't help") is part of
                # the symptom; a cue between its words ("hands nor feet numb") still counts.
                if not set(range(*modifier.modifier_span)) & set(match.positions)
            ]
            for span, match in zip(doc.spans[TARGETS], matches, strict=True)
        ]
