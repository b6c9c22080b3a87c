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
from dataclasses import dataclass, field

import sqlalchemy as sa
import yaml

from trainer.examples import (
    CONFIDENT_GUESS,
    Added,
    add_example,
    domain_names,
    most_similar_other,
    normalise,
    project_examples,
)
from trainer.guide import read_guide
from trainer.journal import Journal
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
# Rasa's own table, described here only to read it. Users' 👍/👎 are rows of type
# "feedback" in it (bot/stores/tracker_store.py), which Rasa itself skips.
events = sa.Table(
    "events",
    sa.MetaData(),
    sa.Column("id", sa.Integer),
    sa.Column("sender_id", sa.String(255)),
    sa.Column("type_name", sa.String(255)),
    sa.Column("timestamp", sa.Float),
    sa.Column("data", sa.Text),
)
FEEDBACK_EVENT = "feedback"
# Turns shown around an inbox message: what led to it, and what the bot said.
CONTEXT_BEFORE, CONTEXT_AFTER = 4, 2


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
    sender_id: str = ""
    event_id: int = 0  # the latest time it was said
    unsure: bool = False  # the bot was unsure at least once
    thumbs_down: bool = False  # a user said the answer to it was not helpful
    reason: str = ""  # the user's "what was wrong", if they said
    context: list[dict] = field(default_factory=list)  # [{"who": "user"|"bot", "text": ...}]

    def as_dict(self) -> dict:
        return {
            "id": self.id,
            "text": self.text,
            "count": self.count,
            "intent": self.intent,
            "confidence": round(self.confidence, 3),
            "fallback": self.fallback,
            "last_seen": self.last_seen,
            "thumbs_down": self.thumbs_down,
            "reason": self.reason,
            "context": self.context,
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


def who(reviewer: str | None) -> str:
    return reviewer or getpass.getuser()


class Inbox:
    def __init__(self, project: Project, db_url: str | None = None) -> None:
        self.project = project
        self.engine = sa.create_engine(db_url or project.db_url(), future=True)
        metadata.create_all(self.engine)
        self.journal = Journal(project, self.engine)

    def warnings(self, intent: str, text: str, guess: tuple[str, float] | None = None) -> list[str]:
        """Reasons to look again before teaching `text` as `intent`, in plain words."""
        guide = read_guide(self.project)
        if intent not in guide:
            return []  # an unknown intent is refused by add_example, with the reason

        def named(name: str) -> str:
            return f"“{guide[name].name}” ({name})" if name in guide else name

        found = []
        if guess and guess[0] != intent and guess[1] >= CONFIDENT_GUESS and guess[0] in guide:
            found.append(
                f"The bot was {guess[1]:.0%} sure this means {named(guess[0])}, "
                f"but you chose {named(intent)}."
            )
        similar = most_similar_other(text, intent, project_examples(self.project))
        if similar is not None:
            found.append(
                f"It is almost the same as “{similar.text}”, which is taught as "
                f"{named(similar.intent)}, but you chose {named(intent)}."
            )
        return found

    def choosable(self, intent: str, new_intent: bool = False) -> None:
        """Refuse intents that are never learned from examples (they are not in the guide)."""
        if new_intent or intent in read_guide(self.project):
            return
        if intent in domain_names(yaml.safe_load(self.project.domain.read_text()), "intents"):
            raise TrainerError(
                f"'{intent}' is set by the safety layer or a channel, never learned from "
                "examples. Choose an intent from the guide (data/intent_guide.yml)."
            )

    def add(self, intent: str, text: str, reviewer: str | None = None, **add_options) -> Added:
        """Add an example (all of add_example's checks) and note it in the journal."""
        self.choosable(intent, add_options.get("new_intent", False))
        added = add_example(self.project, intent, text, **add_options)
        self.journal.record("add", who(reviewer), text, added.intent, added.line, added.file)
        return added

    def items(self, threshold: float = DEFAULT_THRESHOLD) -> list[InboxItem]:
        """Unreviewed messages: those whose answer got a 👎 first, then the ones the bot was
        unsure about; grouped by text, the most recently seen first, each with context."""
        if not sa.inspect(self.engine).has_table("events"):
            return []  # the bot has not stored a conversation in this database yet
        with self.engine.connect() as connection:
            reviewed = set(connection.execute(sa.select(reviews.c.message_key)).scalars())
            rows = connection.execute(
                sa.select(events.c.id, events.c.sender_id, events.c.type_name, events.c.data)
                .where(events.c.type_name.in_(["user", FEEDBACK_EVENT]))
                .order_by(events.c.id)
            )
            groups: dict[str, InboxItem] = {}
            # Per conversation, its messages so far: (timestamp, item).
            said: dict[str, list[tuple[float, InboxItem | None]]] = {}
            for event_id, sender_id, type_name, raw in rows:
                event = json.loads(raw)
                if type_name == FEEDBACK_EVENT:
                    # The rated answer replied to the last message before it.
                    answered = float(event.get("answer_timestamp") or 0.0)
                    earlier = [i for t, i in said.get(sender_id, []) if t <= answered]
                    item = earlier[-1] if earlier else None
                    if event.get("rating") == "down" and item is not None:
                        item.thumbs_down = True
                        item.reason = event.get("reason") or item.reason
                    continue
                text = (event.get("text") or "").strip()
                # Button payloads ("/intent") are not something a user typed; texts
                # without a single word cannot become examples.
                timestamp = event.get("timestamp") or 0.0
                if text.startswith("/") or not normalise(text):
                    said.setdefault(sender_id, []).append((timestamp, None))
                    continue
                key = message_key(text)
                if key in reviewed:
                    said.setdefault(sender_id, []).append((timestamp, None))
                    continue
                parse_data = event.get("parse_data") or {}
                prediction = unsure_prediction(parse_data, threshold)
                intent, confidence, fallback = prediction or (
                    (parse_data.get("intent") or {}).get("name") or "",
                    float((parse_data.get("intent") or {}).get("confidence") or 0.0),
                    False,
                )
                item = groups.get(key) or InboxItem(key, text, 0, intent, confidence, fallback, 0.0)
                item.count += 1
                # A confident answer joins the inbox only if a user gives it a 👎.
                item.unsure = item.unsure or prediction is not None
                if timestamp >= item.last_seen:
                    item.last_seen = timestamp
                    item.intent, item.confidence, item.fallback = intent, confidence, fallback
                    item.sender_id, item.event_id = sender_id, event_id
                groups[key] = item
                said.setdefault(sender_id, []).append((timestamp, item))
            found = [i for i in groups.values() if i.thumbs_down or i.unsure]
            for item in found:
                item.context = self.context(connection, item.sender_id, item.event_id)
        return sorted(found, key=lambda item: (item.thumbs_down, item.last_seen), reverse=True)

    def feedback_counts(self) -> dict[str, dict[str, int]]:
        """👍 and 👎 per topic: the article section of the rated answer (its `sources`).
        A 👎 and its reason count once: the latest rating of each answer counts."""
        if not sa.inspect(self.engine).has_table("events"):
            return {}
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(events.c.sender_id, events.c.type_name, events.c.timestamp, events.c.data)
                .where(events.c.type_name.in_(["bot", FEEDBACK_EVENT]))
                .order_by(events.c.id)
            )
            topics: dict[tuple[str, float], str] = {}
            ratings: dict[tuple[str, float], str] = {}
            for sender_id, type_name, timestamp, raw in rows:
                event = json.loads(raw)
                if type_name == "bot":
                    # Rasa keeps the response's own metadata under the event's "metadata".
                    response = (event.get("metadata") or {}).get("metadata") or {}
                    sources = response.get("sources") or ["(no source)"]
                    topics[(sender_id, timestamp)] = " · ".join(sources)
                else:
                    ratings[(sender_id, event.get("answer_timestamp"))] = event.get("rating")
        counts: dict[str, dict[str, int]] = {}
        for answer, rating in ratings.items():
            topic = counts.setdefault(topics.get(answer, "(unknown)"), {"up": 0, "down": 0})
            topic[rating] = topic.get(rating, 0) + 1
        return counts

    @staticmethod
    def context(connection, sender_id: str, event_id: int) -> list[dict]:
        """The user and bot messages around one message of a conversation."""
        texts = sa.select(events.c.id, events.c.type_name, events.c.data).where(
            events.c.sender_id == sender_id, events.c.type_name.in_(["user", "bot"])
        )
        before = connection.execute(
            texts.where(events.c.id < event_id).order_by(events.c.id.desc()).limit(CONTEXT_BEFORE)
        ).all()
        after = connection.execute(
            texts.where(events.c.id >= event_id).order_by(events.c.id).limit(CONTEXT_AFTER + 1)
        ).all()
        turns = []
        for row_id, type_name, raw in [*reversed(before), *after]:
            text = (json.loads(raw).get("text") or "").strip()
            if text and not text.startswith("/"):  # a button payload is not what was typed
                turns.append({"who": type_name, "text": text, "this": row_id == event_id})
        return turns

    def find(self, item_id: str) -> InboxItem:
        for item in self.items(threshold=1.01):
            if item.id == item_id:
                return item
        raise TrainerError(f"No unreviewed inbox message has id '{item_id}'.")

    def label(self, item_id: str, intent: str, reviewer: str | None = None, **add_options) -> Added:
        """Add the message as an example of `intent` (all of `add`'s checks), then record it."""
        item = self.find(item_id)
        self.choosable(intent, add_options.get("new_intent", False))
        added = add_example(self.project, intent, item.text, **add_options)
        self._record(item, "labeled", intent, reviewer)
        self.journal.record(
            "label", who(reviewer), item.text, added.intent, added.line, added.file, item.id
        )
        return added

    def dismiss(self, item_id: str, reviewer: str | None = None) -> InboxItem:
        item = self.find(item_id)
        self._record(item, "dismissed", None, reviewer)
        self.journal.record("dismiss", who(reviewer), item.text, message_key=item.id)
        return item

    def undo(self, change_id: int, reviewer: str | None = None):
        """Reverse one journal entry; a labelled or dismissed message comes back to the inbox."""
        return self.journal.undo(change_id, who(reviewer), self.forget_review)

    def forget_review(self, key: str) -> None:
        with self.engine.begin() as connection:
            connection.execute(reviews.delete().where(reviews.c.message_key == key))

    def _record(self, item: InboxItem, decision: str, intent: str | None, reviewer: str | None):
        row = {
            "message_key": item.id,
            "text": item.text,
            "decision": decision,
            "intent": intent,
            "reviewer": who(reviewer),
            "reviewed_at": time.time(),
        }
        with self.engine.begin() as connection:
            connection.execute(reviews.delete().where(reviews.c.message_key == item.id))
            connection.execute(reviews.insert().values(**row))
