"""Real user messages the bot was unsure about, read from the tracker store's `events` table.

Messages are grouped by their normalised text; a group's id is a short hash of that text,
so it stays the same between runs. Reviews (labelled or dismissed) go to a table of our own
in the same database, and reviewed texts never come back.
"""

from __future__ import annotations

import getpass
import hashlib
import json
import time
from dataclasses import dataclass

import sqlalchemy as sa

from trainer.examples import Added, add_example, normalise
from trainer.project import Project, TrainerError

FALLBACK_INTENT = "nlu_fallback"
# Below this the bot answered, but a trainer should look: well above the fallback
# threshold (FallbackClassifier in config.yml, 0.4).
DEFAULT_THRESHOLD = 0.6

metadata = sa.MetaData()
reviews = sa.Table(
    "trainer_reviews",
    metadata,
    sa.Column("message_key", sa.String(16), primary_key=True),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("decision", sa.String(16), nullable=False),  # "labeled" or "dismissed"
    sa.Column("intent", sa.String(255)),
    sa.Column("reviewer", sa.String(255)),
    sa.Column("reviewed_at", sa.Float, nullable=False),
)
# Rasa's own table, described here only to read it.
events = sa.Table(
    "events",
    sa.MetaData(),
    sa.Column("id", sa.Integer),
    sa.Column("type_name", sa.String(255)),
    sa.Column("timestamp", sa.Float),
    sa.Column("data", sa.Text),
)


def message_key(text: str) -> str:
    return hashlib.sha1(normalise(text).encode()).hexdigest()[:10]


@dataclass
class InboxItem:
    id: str
    text: str
    count: int
    intent: str  # the best real intent, also when the fallback won
    confidence: float
    fallback: bool
    last_seen: float

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "text": self.text,
            "count": self.count,
            "intent": self.intent,
            "confidence": round(self.confidence, 3),
            "fallback": self.fallback,
            "last_seen": self.last_seen,
        }


def unsure_prediction(parse_data: dict, threshold: float) -> tuple[str, float, bool] | None:
    """(predicted intent, confidence, hit the fallback) when the bot was unsure, else None."""
    intent = parse_data.get("intent") or {}
    ranking = [
        r for r in parse_data.get("intent_ranking") or [] if r.get("name") != FALLBACK_INTENT
    ]
    best = ranking[0] if ranking else {"name": None, "confidence": 0.0}
    if intent.get("name") == FALLBACK_INTENT:
        return best["name"] or "", float(best["confidence"] or 0.0), True
    confidence = float(intent.get("confidence") or 0.0)
    if intent.get("name") and confidence < threshold:
        return intent["name"], confidence, False
    return None


class Inbox:
    def __init__(self, project: Project, db_url: str | None = None) -> None:
        self.project = project
        self.engine = sa.create_engine(db_url or project.db_url(), future=True)
        metadata.create_all(self.engine)

    def items(self, threshold: float = DEFAULT_THRESHOLD) -> list[InboxItem]:
        """Unreviewed unsure messages, grouped by text, the most recently seen first."""
        with self.engine.connect() as connection:
            reviewed = set(connection.execute(sa.select(reviews.c.message_key)).scalars())
            rows = connection.execute(
                sa.select(events.c.data).where(events.c.type_name == "user").order_by(events.c.id)
            )
            groups: dict[str, InboxItem] = {}
            for (raw,) in rows:
                event = json.loads(raw)
                text = (event.get("text") or "").strip()
                # Button payloads ("/intent") are not something a user typed; texts
                # without a single word cannot become examples.
                if text.startswith("/") or not normalise(text):
                    continue
                prediction = unsure_prediction(event.get("parse_data") or {}, threshold)
                key = message_key(text)
                if prediction is None or key in reviewed:
                    continue
                intent, confidence, fallback = prediction
                item = groups.setdefault(
                    key, InboxItem(key, text, 0, intent, confidence, fallback, 0.0)
                )
                item.count += 1
                if (event.get("timestamp") or 0.0) >= item.last_seen:
                    item.last_seen = event.get("timestamp") or 0.0
                    item.intent, item.confidence, item.fallback = intent, confidence, fallback
        return sorted(groups.values(), key=lambda item: item.last_seen, reverse=True)

    def find(self, item_id: str) -> InboxItem:
        for item in self.items(threshold=1.01):
            if item.id == item_id:
                return item
        raise TrainerError(f"No unreviewed inbox message has id '{item_id}'.")

    def label(self, item_id: str, intent: str, reviewer: str | None = None, **add_options) -> Added:
        """Add the message as an example of `intent` (all of `add`'s checks), then record it."""
        item = self.find(item_id)
        added = add_example(self.project, intent, item.text, **add_options)
        self._record(item, "labeled", intent, reviewer)
        return added

    def dismiss(self, item_id: str, reviewer: str | None = None) -> InboxItem:
        item = self.find(item_id)
        self._record(item, "dismissed", None, reviewer)
        return item

    def _record(self, item: InboxItem, decision: str, intent: str | None, reviewer: str | None):
        row = {
            "message_key": item.id,
            "text": item.text,
            "decision": decision,
            "intent": intent,
            "reviewer": reviewer or getpass.getuser(),
            "reviewed_at": time.time(),
        }
        with self.engine.begin() as connection:
            connection.execute(reviews.delete().where(reviews.c.message_key == item.id))
            connection.execute(reviews.insert().values(**row))
