"""Where a bot project keeps its files, so the trainer can work on a copy (tests do)."""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from bot import ROOT
from ops import settings

MODEL_NAME = "upper-back"


class TrainerError(Exception):
    """A request the trainer cannot carry out; the message is for the trainer."""


@dataclass(frozen=True)
class Project:
    root: Path = ROOT

    @property
    def nlu_dir(self) -> Path:
        return self.root / "data" / "nlu"

    @property
    def domain(self) -> Path:
        return self.root / "domain.yml"

    @property
    def test_set(self) -> Path:
        return self.root / "tests" / "nlu" / "test_nlu.yml"

    @property
    def held_out_sets(self) -> list[Path]:
        """Both halves of the held-out set: never trained on, so never added as examples."""
        return sorted((self.root / "tests" / "nlu").glob("*_nlu.yml"))

    @property
    def baseline(self) -> Path:
        return self.root / "tests" / "nlu" / "baseline.json"

    @property
    def model(self) -> Path:
        """The live model: the one the bot loads, replaced only by a promotion."""
        return self.root / "models" / f"{MODEL_NAME}.tar.gz"

    @property
    def candidate_dir(self) -> Path:
        """Where a retrain writes its candidate, which the gates check before promotion."""
        return self.root / "models" / "candidates"

    @property
    def live_record(self) -> Path:
        """Which model is live, since when, with which scores (trainer/promotion.py)."""
        return self.root / "models" / "live.json"

    @property
    def intent_guide(self) -> Path:
        return self.root / "data" / "intent_guide.yml"

    @property
    def safety_vignettes(self) -> Path:
        """The safety gate's vignettes: the test half, as in `make test`."""
        return self.root / "tests" / "safety" / "vignettes_test.yml"

    @property
    def safety_floor(self) -> Path:
        return self.root / "tests" / "safety" / "floor.json"

    @property
    def report_dir(self) -> Path:
        return self.root / "reports" / "evaluation"

    def training_inputs(self) -> list[Path]:
        # The intent guide is read at run time, like the Makefile's RUN_TIME_DATA.
        data = [
            p for p in (self.root / "data").rglob("*") if p.is_file() and p != self.intent_guide
        ]
        return [*data, self.domain, self.root / "config.yml"]

    def db_url(self) -> str:
        """The tracker store's database: DATABASE_URL (ops/settings.py), else the project's
        SQLite file."""
        if os.environ.get("DATABASE_URL"):
            return settings.load(os.environ).database_url
        return f"sqlite:///{self.root / 'conversations.db'}"

    @contextlib.contextmanager
    def lock(self) -> Iterator[None]:
        """One editor at a time, across threads and processes (two trainers, web + CLI)."""
        lock_file = self.root / ".rasa" / "trainer.lock"
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        with open(lock_file, "a") as handle:
            fcntl.flock(handle, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(handle, fcntl.LOCK_UN)


def write_atomically(path: Path, text: str) -> None:
    """Readers see the old file or the new one, never half of one; a failed write keeps the old."""
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", encoding="utf-8", newline="") as out:
            out.write(text)
            out.flush()
            os.fsync(out.fileno())
        if path.exists():
            os.chmod(temp, path.stat().st_mode & 0o777)
        else:
            os.chmod(temp, 0o644)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
