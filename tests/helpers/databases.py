"""Scratch databases on the machine's shared PostgreSQL server, dropped afterwards, and
private PostgreSQL servers that a test may stop and restart."""

from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg2

POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
# Debian's server binaries, newest version first.
POSTGRES_BIN = sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True)


@contextlib.contextmanager
def scratch_postgres_database(prefix: str = "bot") -> Iterator[str]:
    """A fresh database's name; it is dropped, with any open connections, on exit."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(dbname="postgres", **POSTGRES)
    admin.autocommit = True
    try:
        admin.cursor().execute(f"CREATE DATABASE {name}")
        yield name
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


class PrivatePostgres:
    """A PostgreSQL server of one test's own: initdb and pg_ctl on a temp directory and a
    free port, with one database, `bot`. Stopping it never touches the shared server."""

    def __init__(self, port: int) -> None:
        if not POSTGRES_BIN:
            raise RuntimeError("PostgreSQL's server binaries are not under /usr/lib/postgresql")
        self.port = port
        self.url = f"postgresql://postgres@127.0.0.1:{port}/bot"
        self.directory = Path(tempfile.mkdtemp(prefix="private-postgres-"))
        self.data = self.directory / "data"

    def _run(self, program: str, *args: str) -> None:
        command = [str(POSTGRES_BIN[0] / program), *args]
        if os.geteuid() == 0:  # initdb and postgres refuse to run as root
            command = ["runuser", "-u", "postgres", "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=60)

    def start(self) -> None:
        # Only this server listens: its own port on loopback, its socket in its directory.
        options = f"-p {self.port} -k {self.directory} -c listen_addresses=127.0.0.1"
        self._run("pg_ctl", "-D", str(self.data), "-l", str(self.directory / "log"),
                  "-o", options, "-w", "-t", "60", "start")  # fmt: skip

    def stop(self) -> None:
        self._run("pg_ctl", "-D", str(self.data), "-m", "fast", "-w", "-t", "60", "stop")

    def __enter__(self) -> PrivatePostgres:
        try:
            if os.geteuid() == 0:
                owner = pwd.getpwnam("postgres")
                os.chown(self.directory, owner.pw_uid, owner.pw_gid)
            self._run("initdb", "-D", str(self.data), "-U", "postgres", "--auth=trust",
                      "-E", "UTF8", "--no-sync")  # fmt: skip
            self.start()
            with contextlib.closing(
                psycopg2.connect(host="127.0.0.1", port=self.port, user="postgres")
            ) as admin:
                admin.autocommit = True
                admin.cursor().execute("CREATE DATABASE bot")
        except BaseException:
            self.__exit__()
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if (self.data / "postmaster.pid").exists():
            self.stop()
        shutil.rmtree(self.directory, ignore_errors=True)


@contextlib.contextmanager
def scratch_database_url(kind: str, directory: Path) -> Iterator[str]:
    """A URL for an empty database: a SQLite file in `directory`, or a scratch database on
    the shared PostgreSQL server (dropped on exit)."""
    if kind == "sqlite":
        yield f"sqlite:///{directory / 'conversations.db'}"
        return
    with scratch_postgres_database("store") as name:
        yield f"postgresql://{POSTGRES['user']}@{POSTGRES['host']}:{POSTGRES['port']}/{name}"
