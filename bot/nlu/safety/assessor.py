"""One message's safety decision, with the evidence a reviewer needs to see why."""

from __future__ import annotations

from datetime import datetime

from spacy.language import Language
from spacy.tokens import Doc

from bot.nlu.safety.classifier import NONE, SafetyClassifier
from bot.nlu.safety.concepts import CONCEPTS_FILE, ConceptMatcher, Match
from bot.nlu.safety.context import CONTEXT_RULES_FILE, NOT_CURRENT, ContextReader
from bot.nlu.safety.persistence import PERSISTENCE_FILE, PersistenceReader

EMERGENCY, URGENT, TRIAGE, NO_ALARM = "emergency", "urgent", "triage", "none"
RULES, CLASSIFIER = "concept_rules", "safety_classifier"
BOTH = "concept_rules+safety_classifier"
# History does not clear a concept whose history is the sign (a past cancer, in remission).
NOT_CURRENT_FOR_HISTORY = NOT_CURRENT - {"HISTORICAL", "RESOLVED"}
# A mention dated minutes ago happened, whatever "if" comes before it.
RECENT = "RECENT"
# A mention whose own words make the writer its object ("my wife found me on the floor",
# "a shelf fell on me") is the writer's, whoever else the sentence names.
WRITER_AS_OBJECT = frozenset({"me", "myself", "meself"})


class SafetyAssessor:
    def __init__(
        self,
        nlp: Language,
        classifier: SafetyClassifier,
        triage_confidence: float,
        sources: dict[str, str] | None = None,
        agree_confidence: float = 0.5,
    ) -> None:
        """`sources`: file name -> text of the data files; the repo's data/safety/ if None."""
        sources = sources or {}
        self.concepts = ConceptMatcher(nlp, sources.get(CONCEPTS_FILE.name))
        self.context = ContextReader(nlp, sources.get(CONTEXT_RULES_FILE.name))
        self.persistence = PersistenceReader(sources.get(PERSISTENCE_FILE.name))
        self.classifier = classifier
        self.triage_confidence = triage_confidence
        self.agree_confidence = agree_confidence
        self.tier_of = {c.name: c.tier for c in self.concepts.concepts}

    def assess(self, doc: Doc, now: datetime | None = None) -> dict:
        """The decision (emergency, urgent, triage or none) and what it rests on."""
        matches = self.concepts.match(doc) + self.concepts.temperatures(doc)
        findings = [
            _finding(match, modifiers)
            for match, modifiers in zip(matches, self.context.read(doc, matches), strict=True)
        ]
        label, confidence = self.classifier.predict(doc.text)
        decision, signal = self._decide(findings, label, confidence)
        persistence = self.persistence.read(doc.text, now)
        return {
            "decision": decision,
            "signal": signal,
            "findings": findings,
            "classifier": {"concept": label, "confidence": round(confidence, 3)},
            "persistence": None
            if persistence is None
            else {"days": persistence.days, "evidence": persistence.evidence},
        }

    def _decide(self, findings: list[dict], label: str, confidence: float) -> tuple[str, str]:
        current = [f for f in findings if f["current"] and not f["partial"]]
        if any(f["tier"] == "red" and not f["weak"] for f in current):
            return EMERGENCY, RULES
        # Two weaker signals that agree: the classifier names a red concept and the message
        # mentions part of it (its body part or its descriptor) as the writer's own, now.
        partly = {f["concept"] for f in findings if f["current"] and f["partial"]}
        if label in partly and confidence >= self.agree_confidence:
            return EMERGENCY, BOTH
        if any(f["tier"] == "urgent" and not f["weak"] for f in current):
            return URGENT, RULES
        if any(f["tier"] == "red" for f in current):
            return TRIAGE, RULES
        # The classifier alone sees a red flag the rules did not mention at all: ask.
        mentioned = {f["concept"] for f in findings if not f["partial"]}
        if (
            label != NONE
            and self.tier_of[label] == "red"
            and confidence >= self.triage_confidence
            and not mentioned
        ):
            return TRIAGE, CLASSIFIER
        return NO_ALARM, ""


def _finding(match: Match, modifiers: list[dict[str, str]]) -> dict:
    clearing = NOT_CURRENT_FOR_HISTORY if match.concept.history_counts else NOT_CURRENT
    if any(m["category"] == RECENT for m in modifiers):
        clearing = clearing - {"HYPOTHETICAL", "HISTORICAL", "RESOLVED"}
    if WRITER_AS_OBJECT & {word.lower() for word in match.words}:
        clearing = clearing - {"OTHER_PERSON"}
    return {
        "concept": match.concept.name,
        "tier": match.concept.tier,
        "words": " ".join(match.words),
        "corrected": [f"{written} -> {read}" for written, read in match.corrected],
        "weak": match.weak,
        "partial": match.partial,
        "context": modifiers,
        "current": not any(m["category"] in clearing for m in modifiers),
    }
