"""The knowledge base: the assistant's medical answers, read from data/knowledge."""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from bot import ROOT

KNOWLEDGE_DIR = ROOT / "data" / "knowledge"
KNOWLEDGE_FILE = KNOWLEDGE_DIR / "upper_back_spasms.yml"
# How many topics "not understood" offers.
CLOSEST_COUNT = 3


@dataclass(frozen=True)
class Entry:
    """One answer, traced to the article section it comes from."""

    id: str
    heading: str
    excerpt: str
    answer: str
    follow_ups: tuple[str, ...]
    category: str | None = None
    question: str = ""
    topics: tuple[str, ...] = ()
    # The section's name as readers see it, where the article's heading has a typo.
    title: str = ""
    # A domain response sent after the answer (the warning signs after "when to see a doctor").
    then_response: str = ""


@dataclass(frozen=True)
class Category:
    name: str
    intent: str
    overview: str


def _entry(fields: dict) -> Entry:
    return Entry(
        **{
            **fields,
            "topics": tuple(fields.get("topics", ())),
            "follow_ups": tuple(fields.get("follow_ups", ())),
        }
    )


class KnowledgeBase:
    def __init__(self, document: dict) -> None:
        self.categories = {
            name: Category(name=name, **fields) for name, fields in document["categories"].items()
        }
        self.entries = {fields["id"]: _entry(fields) for fields in document["entries"]}
        self.advice = {
            name: _entry({"id": name, **fields}) for name, fields in document["advice"].items()
        }
        self._category_by_intent = {c.intent: c.name for c in self.categories.values()}

    @classmethod
    def load(cls, path: Path = KNOWLEDGE_FILE) -> KnowledgeBase:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        return cls(document)

    def category_for_intent(self, intent: str | None) -> str | None:
        return self._category_by_intent.get(intent)

    def select(
        self,
        category: str | None,
        asked: list[str],
        mentioned: list[str] = (),
        previous_category: str | None = None,
    ) -> Entry | None:
        """The entry that answers a question.

        `asked` are the topics of the question itself, `mentioned` those of the rest of
        the message ("sore after the gym, ice or heat?": heat is asked, the gym mentioned).
        An asked topic picks the entry; when it sits in several categories (lifting is a
        cause and a prevention tip) the asked category wins, then the one the conversation
        was in. A mentioned topic answers only within the asked category, so the question
        wins over the statement. Otherwise the category's overview answers.
        """
        for topic in asked:
            candidates = [e for e in self.entries.values() if topic in e.topics]
            for preferred in (category, previous_category):
                for entry in candidates:
                    if entry.category == preferred:
                        return entry
            if candidates:
                return candidates[0]
        if category is None:  # a bare follow-up ("and heat?"): any topic it names
            return self.select(previous_category, list(mentioned)) if mentioned else None
        for topic in mentioned:
            for entry in self.entries.values():
                if topic in entry.topics and entry.category == category:
                    return entry
        return self.entries[self.categories[category].overview]

    def closest_entries(
        self, intent_ranking: list[dict], topics: list[str], count: int = CLOSEST_COUNT
    ) -> list[Entry]:
        """The entries a message not understood came closest to: those of its topic words,
        then the overviews of the categories the intent classifier ranked highest."""
        ranked = [self.category_for_intent(r.get("name")) for r in intent_ranking]
        # Without a ranking (a message with no words), the categories in the file's order.
        categories = [c for c in ranked if c is not None] + list(self.categories)
        closest = [self.select(None, [topic]) for topic in topics]
        closest += [self.entries[self.categories[c].overview] for c in categories]
        unique = list(dict.fromkeys(entry for entry in closest if entry is not None))
        return unique[:count]

    def button_payload(self, entry: Entry) -> str:
        """A payload that asks for `entry` directly, skipping NLU."""
        intent = self.categories[entry.category].intent
        if not entry.topics:
            return f"/{intent}"
        return f'/{intent}{{"topic": "{entry.topics[0]}"}}'

    def buttons(self, entry: Entry) -> list[dict]:
        return self.entry_buttons(self.entries[entry_id] for entry_id in entry.follow_ups)

    def entry_buttons(self, entries: Iterable[Entry]) -> list[dict]:
        return [{"title": e.question, "payload": self.button_payload(e)} for e in entries]


@cache
def knowledge_base() -> KnowledgeBase:
    return KnowledgeBase.load()


# A message's clauses, and the ones that ask: ending in "?" or opening with a question word.
CLAUSE_BREAK = re.compile(r"[,.;:!?\n]+|\s(?:but|and|so)\s")
QUESTION_OPENING = re.compile(
    r"^\s*(?:\W*\s*)?(?:what|whats|what's|how|hows|why|when|which|where|who|should|shall|"
    r"can|could|would|will|is|are|do|does|did|any|anything|tips|ideas|advice|help|best)\b",
    re.IGNORECASE,
)


def question_spans(text: str) -> list[tuple[int, int]]:
    """Where the message's question clauses are (start, end offsets); none without one."""
    clauses, start = [], 0
    for found in CLAUSE_BREAK.finditer(text):
        clauses.append((start, found.end(), text[start : found.end()]))
        start = found.end()
    clauses.append((start, len(text), text[start:]))
    return [
        (begin, end)
        for begin, end, clause in clauses
        if clause.rstrip().endswith("?") or QUESTION_OPENING.match(clause)
    ]


def asked_and_mentioned(text: str, topics: list[tuple[str, int]]) -> tuple[list[str], list[str]]:
    """Topics (value, start offset) split into those the message's question asks about and
    those only mentioned around it. A message with no question asks about all of them."""
    questions = question_spans(text)
    if not questions:
        return [value for value, _ in topics], []
    asked = [v for v, at in topics if any(b <= at < e for b, e in questions)]
    return asked, [v for v, _ in topics if v not in asked]


# "Q3. When should I ...?" and "Poor Posture:" as the article prints them.
QUESTION_NUMBER = re.compile(r"^Q\d+\.\s*")


def section_title(heading: str) -> str:
    """An article heading as a reader sees it in a source line: no number, no colon."""
    return QUESTION_NUMBER.sub("", heading).rstrip(": ")


def sources_metadata(*entries: Entry) -> dict:
    """Response metadata naming the article sections an answer comes from, each once."""
    titles = dict.fromkeys(entry.title or section_title(entry.heading) for entry in entries)
    return {"sources": list(titles)}
