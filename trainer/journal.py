"""Every trainer change (add, label, dismiss), who made it and when, with undo.

The journal is a table in the same database as the inbox's reviews. An entry keeps the
exact line written and the file it went to, so undo removes that one line (checked by
`rasa data validate` first, like every change) and puts a labelled or dismissed message
back in the inbox. Undo is itself an entry, so the history is never rewritten.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from trainer.examples import remove_example
from trainer.project import Project, TrainerError

metadata = sa.MetaData()
changes = sa.Table(
    "trainer_changes",
    metadata,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("kind", sa.String(16), nullable=False),  # add, label, dismiss, undo
    sa.Column("who", sa.String(255), nullable=False),
    sa.Column("at", sa.Float, nullable=False),
    sa.Column("intent", sa.String(255)),
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("line", sa.Text),  # as written to the file, annotations included
    sa.Column("file", sa.String(255)),  # relative to the project root
    sa.Column("message_key", sa.String(16)),  # the inbox message, for label and dismiss
    sa.Column("undoes", sa.Integer),  # for undo: the entry it undid
    sa.Column("undone_by", sa.Integer),
)


@dataclass
class Change:
    id: int
    kind: str
    who: str
    at: float
    intent: str | None
    text: str
    line: str | None
    file: str | None
    message_key: str | None
    undoes: int | None
    undone_by: int | None

    @property
    def can_undo(self) -> bool:
        return self.kind != "undo" and self.undone_by is None

    def as_dict(self) -> dict:
        return {**self.__dict__, "can_undo": self.can_undo}


class Journal:
    def __init__(self, project: Project, engine: sa.engine.Engine) -> None:
        self.project = project
        self.engine = engine
        metadata.create_all(engine)

    def record(
        self,
        kind: str,
        who: str,
        text: str,
        intent: str | None = None,
        line: str | None = None,
        file: Path | None = None,
        message_key: str | None = None,
    ) -> int:
        where = str(file.relative_to(self.project.root)) if file else None
        row = {"kind": kind, "who": who, "at": time.time(), "intent": intent, "text": text,
               "line": line, "file": where, "message_key": message_key}  # fmt: skip
        with self.engine.begin() as connection:
            return connection.execute(changes.insert().values(**row)).inserted_primary_key[0]

    def entries(self, limit: int = 200) -> list[Change]:
        """The newest first."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(changes).order_by(changes.c.id.desc()).limit(limit)
            ).mappings()
            return [Change(**row) for row in rows]

    def since(self, when: float) -> list[Change]:
        """Examples added or labelled after `when` and not undone, oldest first."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                sa.select(changes)
                .where(changes.c.at > when, changes.c.kind.in_(["add", "label"]))
                .where(changes.c.undone_by.is_(None))
                .order_by(changes.c.id)
            ).mappings()
            return [Change(**row) for row in rows]

    def get(self, change_id: int) -> Change:
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(changes).where(changes.c.id == change_id)
            ).mappings().first()  # fmt: skip
        if row is None:
            raise TrainerError(f"There is no change number {change_id}.")
        return Change(**row)

    def undo(self, change_id: int, who: str, forget_review) -> Change:
        """Reverse one change; `forget_review(message_key)` puts a message back in the inbox."""
        change = self.get(change_id)
        if not change.can_undo:
            raise TrainerError(f"Change {change_id} was already undone.")
        if change.kind in ("add", "label"):
            path = self.project.root / change.file
            remove_example(self.project, path, change.intent, change.line)
        if change.message_key:
            forget_review(change.message_key)
        undo_id = self.record("undo", who, change.text, change.intent, message_key=None)
        with self.engine.begin() as connection:
            connection.execute(
                changes.update().where(changes.c.id == change_id).values(undone_by=undo_id)
            )
            connection.execute(
                changes.update().where(changes.c.id == undo_id).values(undoes=change_id)
            )
        return change
