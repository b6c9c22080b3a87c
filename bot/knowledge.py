"""The knowledge base: the assistant's medical answers, read from data/knowledge."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import yaml

from bot import ROOT

KNOWLEDGE_DIR = ROOT / "data" / "knowledge"
KNOWLEDGE_FILE = KNOWLEDGE_DIR / "upper_back_spasms.yml"


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
        self, category: str | None, topics: list[str], previous_category: str | None = None
    ) -> Entry | None:
        """The entry that answers a question.

        A topic picks the entry; when the topic sits in several categories (lifting is a
        cause and a prevention tip) the asked category wins, then the one the
        conversation was in. Without a topic the category's overview answers.
        """
        for topic in topics:
            candidates = [e for e in self.entries.values() if topic in e.topics]
            for preferred in (category, previous_category):
                for entry in candidates:
                    if entry.category == preferred:
                        return entry
            if candidates:
                return candidates[0]
        if category is None:
            return None
        return self.entries[self.categories[category].overview]

    def button_payload(self, entry: Entry) -> str:
        """A payload that asks for `entry` directly, skipping NLU."""
        intent = self.categories[entry.category].intent
        if not entry.topics:
            return f"/{intent}"
        return f'/{intent}{{"topic": "{entry.topics[0]}"}}'

    def buttons(self, entry: Entry) -> list[dict]:
        follow_ups = (self.entries[entry_id] for entry_id in entry.follow_ups)
        return [{"title": e.question, "payload": self.button_payload(e)} for e in follow_ups]


@cache
def knowledge_base() -> KnowledgeBase:
    return KnowledgeBase.load()


# "Q3. When should I ...?" and "Poor Posture:" as the article prints them.
QUESTION_NUMBER = re.compile(r"^Q\d+\.\s*")


def section_title(heading: str) -> str:
    """An article heading as a reader sees it in a source line: no number, no colon."""
    return QUESTION_NUMBER.sub("", heading).rstrip(": ")


def sources_metadata(*entries: Entry) -> dict:
    """Response metadata naming the article sections an answer comes from, each once."""
    titles = dict.fromkeys(section_title(entry.heading) for entry in entries)
    return {"sources": list(titles)}
