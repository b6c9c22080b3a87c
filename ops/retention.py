"""Delete conversations nobody has touched for longer than the retention period.

make purge                          # RETENTION_DAYS (default 30), tracker store from
python -m ops.retention --days 30   # endpoints.yml or DATABASE_URL

A conversation goes as a whole (its events and its snapshot) once its newest event is
older than the period, so no conversation is left half deleted. Run it daily (cron).
"""

from __future__ import annotations

import argparse
import os
import time

import sqlalchemy as sa
import yaml

from bot import ROOT
from ops.services import endpoints_from_env

DEFAULT_RETENTION_DAYS = 30


def database_url(tracker_store: dict) -> sa.engine.URL:
    if tracker_store.get("dialect", "sqlite") == "sqlite":
        return sa.engine.URL.create("sqlite", database=tracker_store["db"])
    return sa.engine.URL.create(
        "postgresql",
        username=tracker_store["username"],
        password=tracker_store["password"] or None,
        host=tracker_store["url"],
        port=tracker_store["port"],
        database=tracker_store["db"],
    )


def purge(engine: sa.engine.Engine, days: float, now: float | None = None) -> int:
    """Delete conversations idle for more than `days`; returns how many went."""
    cutoff = (now or time.time()) - days * 86400
    with engine.begin() as connection:
        stale = [
            sender
            for (sender,) in connection.execute(
                sa.text(
                    "SELECT sender_id FROM events GROUP BY sender_id "
                    "HAVING MAX(timestamp) < :cutoff"
                ),
                {"cutoff": cutoff},
            )
        ]
        for table in ("events", "tracker_snapshots"):
            for start in range(0, len(stale), 500):
                connection.execute(
                    sa.text(f"DELETE FROM {table} WHERE sender_id IN :senders").bindparams(
                        sa.bindparam("senders", expanding=True)
                    ),
                    {"senders": stale[start : start + 500]},
                )
    return len(stale)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument(
        "--days",
        type=float,
        default=float(os.environ.get("RETENTION_DAYS", DEFAULT_RETENTION_DAYS)),
    )
    args = parser.parse_args()
    endpoints = endpoints_from_env(yaml.safe_load((ROOT / "endpoints.yml").read_text()), os.environ)
    engine = sa.create_engine(database_url(endpoints["tracker_store"]))
    deleted = purge(engine, args.days)
    print(f"Deleted {deleted} conversation(s) idle for more than {args.days:g} days.")


if __name__ == "__main__":
    main()
