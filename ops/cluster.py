"""N bot replicas behind one nginx entry point (`make cluster REPLICAS=2`).

Each replica is a BotServer: an action server and a Rasa server. They share the
conversations through PostgreSQL (DATABASE_URL) and serialise the turns of one
conversation through Redis (REDIS_URL), so any replica can answer any turn. nginx
(ops/deploy/nginx.conf.template) balances REST and keeps socket.io sessions sticky.
The entry point's port is PORT (default 8080).
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ops.launcher import (
    SERVER_ENV,
    BotServer,
    configured_bot,
    free_port,
    stop_on_sigterm,
    wait_until_up,
)

NGINX_TEMPLATE = Path(__file__).parent / "deploy" / "nginx.conf.template"
REQUIRED_ENV = {
    "DATABASE_URL": "PostgreSQL, where the replicas share the conversations",
    "REDIS_URL": "Redis, where the replicas lock each conversation for one turn at a time",
}


def nginx_binary() -> str:
    # /usr/sbin is not on an ordinary user's PATH.
    found = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin")
    if found is None:
        raise RuntimeError("nginx is not installed (`make cluster` installs Debian's).")
    return found


def render_nginx_config(rasa_ports: list[int], port: int, run_dir: Path) -> str:
    servers = "\n".join(f"        server 127.0.0.1:{p};" for p in rasa_ports)
    values = {
        "@RUN_DIR@": str(run_dir),
        "@PORT@": str(port),
        "@SERVERS@": servers,
        "@MAX_REQUEST_BYTES@": SERVER_ENV["SANIC_REQUEST_MAX_SIZE"],
    }
    config = NGINX_TEMPLATE.read_text()
    for placeholder, value in values.items():
        config = config.replace(placeholder, value)
    return config


class Cluster:
    """The replicas and nginx in front of them, as child processes."""

    def __init__(
        self,
        replicas: int,
        environ: Mapping[str, str],
        port: int = 8080,
        log_dir: Path | None = None,
    ) -> None:
        missing = [
            f"{name} is not set ({what})"
            for name, what in REQUIRED_ENV.items()
            if not environ.get(name)
        ]
        if missing:
            raise RuntimeError("; ".join(missing))
        if replicas < 1:
            raise RuntimeError("--replicas must be at least 1")
        self.nginx_binary = nginx_binary()
        self.port = port
        self.bots: list[BotServer] = []
        for number in range(replicas):
            bot, _ = configured_bot(free_port(), free_port(), environ)
            if log_dir is not None:
                bot.log_dir = log_dir / f"replica-{number}"
            self.bots.append(bot)
        self.run_dir = Path(tempfile.mkdtemp(prefix="bot-nginx-"))
        # nginx's workers (another user when started as root) write request bodies here.
        self.run_dir.chmod(0o755)
        self.nginx: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"{self.url}/webhooks/rest/webhook"

    def start(self) -> Cluster:
        try:
            # Model loading dominates start-up; the replicas load theirs side by side.
            with ThreadPoolExecutor(len(self.bots)) as pool:
                list(pool.map(BotServer.start, self.bots))
            self.start_nginx()
        except BaseException:
            self.stop()
            raise
        return self

    def start_nginx(self, timeout: float = 15) -> None:
        config = self.run_dir / "nginx.conf"
        config.write_text(
            render_nginx_config([bot.rasa_port for bot in self.bots], self.port, self.run_dir)
        )
        self.nginx = subprocess.Popen(
            [
                self.nginx_binary,
                "-p",
                str(self.run_dir),
                "-e",
                str(self.run_dir / "error.log"),
                "-c",
                str(config),
                "-g",
                "daemon off;",
            ],
            start_new_session=True,
        )
        try:
            wait_until_up(f"{self.url}/webhooks/rest/", self.nginx, timeout)
        except RuntimeError as error:
            log = (self.run_dir / "error.log").read_text(errors="replace")
            raise RuntimeError(f"{error}\n{log}") from error

    def stop(self) -> None:
        if self.nginx is not None and self.nginx.poll() is None:
            self.nginx.terminate()
            self.nginx.wait(timeout=10)
        with ThreadPoolExecutor(max(len(self.bots), 1)) as pool:
            list(pool.map(BotServer.stop, self.bots))
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def stopped_process(self) -> str | None:
        """The name of a child that has exited, if any."""
        if self.nginx is not None and self.nginx.poll() is not None:
            return "nginx"
        for number, bot in enumerate(self.bots):
            for name, process in bot.processes.items():
                if process.poll() is not None:
                    return f"replica {number}'s {name} server"
        return None

    def watch(self) -> int:
        """Block until a child exits (reported) or Ctrl-C/SIGTERM; then stop everything."""
        try:
            while (stopped := self.stopped_process()) is None:
                time.sleep(0.5)
            print(f"{stopped} stopped; stopping the cluster.", file=sys.stderr)
            return 1
        except KeyboardInterrupt:
            print("\nStopping.")
            return 0
        finally:
            self.stop()


def main() -> int:
    signal.signal(signal.SIGTERM, stop_on_sigterm)
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", type=int, default=2, help="Rasa servers (default 2)")
    args = parser.parse_args()
    try:
        cluster = Cluster(args.replicas, os.environ, port=int(os.environ.get("PORT", 8080)))
    except RuntimeError as error:
        print(f"Could not start the cluster: {error}", file=sys.stderr)
        return 1
    print(f"Starting {args.replicas} replicas (loading the model in each)...", flush=True)
    try:
        cluster.start()
    except (RuntimeError, TimeoutError) as error:
        print(f"Could not start the cluster: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 0
    for number, bot in enumerate(cluster.bots):
        print(f"Replica {number}:       {bot.url} (actions {bot.action_url})")
    print(f"Entry point:     http://localhost:{cluster.port}")
    print(f"REST channel:    http://localhost:{cluster.port}/webhooks/rest/webhook")
    print(f"Chat page:       http://localhost:{cluster.port}/chat/")
    print("Ready. Press Ctrl-C to stop.", flush=True)
    return cluster.watch()


if __name__ == "__main__":
    sys.exit(main())
