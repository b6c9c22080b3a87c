"""A SQL tracker store whose per-turn cost does not grow with the conversation.

Rasa's SQLTrackerStore reads and replays every event of the current session on every
turn. This store keeps the full history in the same `events` table (for review and the
trainer inbox), and beside it one snapshot row per conversation: the session start, the
current slot values and the last few turns. A turn loads only that row.

endpoints.yml:  tracker_store: {type: bot.stores.tracker_store.SnapshotSQLTrackerStore}
The database is DATABASE_URL (ops/settings.py): a SQLite file by default.
"""

from __future__ import annotations

import json
from typing import Any

import sqlalchemy as sa
from rasa.core.tracker_store import SQLTrackerStore
from rasa.shared.core.events import ActiveLoop, Event, SessionStarted, SlotSet, UserUttered
from rasa.shared.core.trackers import DialogueStateTracker

from ops.settings import current

# Turns kept in the snapshot: more than any rule or the memoization policy looks back.
RECENT_TURNS = 5
# Tracker attributes: how many of its events are stored already, and how many of them
# are the snapshot's synthetic prefix (session start and slot values).
STORED = "_snapshot_stored_events"
PREFIX = "_snapshot_prefix_events"


class SnapshotSQLTrackerStore(SQLTrackerStore):
    def __init__(
        self,
        domain: Any = None,
        event_broker: Any = None,
        database_url: str | None = None,
        **_: Any,
    ) -> None:
        url = sa.engine.make_url(database_url or current().database_url)
        super().__init__(
            domain,
            dialect=url.get_backend_name(),
            host=url.host,
            port=url.port,
            db=url.database,
            username=url.username,
            password=url.password,
            event_broker=event_broker,
        )

    class SQLSnapshot(SQLTrackerStore.Base):
        __tablename__ = "tracker_snapshots"

        sender_id = sa.Column(sa.String(255), primary_key=True)
        data = sa.Column(sa.Text, nullable=False)

    async def retrieve(self, sender_id: str) -> DialogueStateTracker | None:
        with self.session_scope() as session:
            row = session.get(self.SQLSnapshot, sender_id)
            snapshot = json.loads(row.data) if row else None
        if snapshot is None:
            # A conversation stored before snapshots existed: read it in full once.
            tracker = await super().retrieve(sender_id)
            if tracker is not None:
                setattr(tracker, STORED, len(tracker.events))
                setattr(tracker, PREFIX, 0)
            return tracker
        prefix = [snapshot["session_start"]] if snapshot["session_start"] else []
        prefix += [SlotSet(name, value).as_dict() for name, value in snapshot["slots"].items()]
        if snapshot["active_loop"]:
            prefix.append(ActiveLoop(snapshot["active_loop"]).as_dict())
        tracker = DialogueStateTracker.from_dict(
            sender_id, prefix + snapshot["recent"], self.domain.slots
        )
        setattr(tracker, STORED, len(tracker.events))
        setattr(tracker, PREFIX, len(prefix))
        return tracker

    async def save(self, tracker: DialogueStateTracker) -> None:
        await self.stream_events(tracker)
        events = list(tracker.events)
        new_events = events[getattr(tracker, STORED, 0) :]
        if not new_events:
            return
        with self.session_scope() as session:
            for event in new_events:
                session.add(self._row(tracker.sender_id, event))
            session.merge(
                self.SQLSnapshot(
                    sender_id=tracker.sender_id, data=json.dumps(self._snapshot(tracker, events))
                )
            )
            session.commit()
        setattr(tracker, STORED, len(events))

    def _row(self, sender_id: str, event: Event) -> SQLTrackerStore.SQLEvent:
        data = event.as_dict()
        return self.SQLEvent(
            sender_id=sender_id,
            type_name=event.type_name,
            timestamp=data.get("timestamp"),
            intent_name=data.get("parse_data", {}).get("intent", {}).get("name"),
            action_name=data.get("name"),
            data=json.dumps(data),
        )

    def _snapshot(self, tracker: DialogueStateTracker, events: list[Event]) -> dict[str, Any]:
        starts = [i for i, e in enumerate(events) if isinstance(e, SessionStarted)]
        session_start = events[starts[-1]].as_dict() if starts else None
        body_start = max(starts[-1] + 1 if starts else 0, getattr(tracker, PREFIX, 0))
        body = events[body_start:]
        turn_starts = [i for i, e in enumerate(body) if isinstance(e, UserUttered)]
        if len(turn_starts) > RECENT_TURNS:
            body = body[turn_starts[-RECENT_TURNS] :]
        slots = {
            slot.name: slot.value
            for slot in tracker.slots.values()
            if slot.value != slot.initial_value
        }
        return {
            "session_start": session_start,
            "slots": slots,
            "active_loop": tracker.active_loop_name,
            "recent": [e.as_dict() for e in body],
        }


class TrackerStoreUnavailable(BaseException):  # noqa: N818 - named for what happened
    """The database could not load or store a turn.

    A BaseException, like asyncio.CancelledError, so that Rasa's FailSafeTrackerStore
    (which catches Exception and silently falls back to memory) lets it through: the
    channel then answers "can't answer right now" and nothing is half-stored.
    """
