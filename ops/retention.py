"""Delete conversations nobody has touched for longer than the retention period.

make purge                          # RETENTION_DAYS (default 30), in the tracker
python -m ops.retention --days 30   # store's DATABASE_URL (ops/settings.py)

A conversation goes as a whole (its events and its snapshot) once its newest event is
older than the period, so no conversation is left half deleted. Run it daily (cron).
"""

from __future__ import annotations

import argparse
import os
import time

import sqlalchemy as sa

from ops import settings

DEFAULT_RETENTION_DAYS = 30


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
    engine = sa.create_engine(settings.current().database_url)
    deleted = purge(engine, args.days)
    print(f"Deleted {deleted} conversation(s) idle for more than {args.days:g} days.")


if __name__ == "__main__":
    main()
