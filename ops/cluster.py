"""N Rasa server replicas and one action server behind one nginx entry point.

`make cluster REPLICAS=2`. The replicas share the conversations through PostgreSQL
(DATABASE_URL) and run the turns of one conversation one at a time through Redis
(REDIS_URL), so any replica can answer any turn; the action server keeps no state, so
they share one. nginx (ops/deploy/nginx.conf.template) balances REST and keeps socket.io
sessions sticky. The same supervisor as `make run` keeps every process up. The entry
point's port is PORT (default 8080).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path

from ops.launcher import BotServer, free_port
from ops.services import ServiceUnavailable, check_services
from ops.settings import Settings, SettingsError
from ops.supervisor import Service, Supervisor

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


def render_nginx_config(rasa_ports: list[int], port: int, run_dir: Path, max_bytes: int) -> str:
    servers = "\n".join(f"        server 127.0.0.1:{p};" for p in rasa_ports)
    values = {
        "@RUN_DIR@": str(run_dir),
        "@PORT@": str(port),
        "@SERVERS@": servers,
        "@MAX_REQUEST_BYTES@": str(max_bytes),
    }
    config = NGINX_TEMPLATE.read_text()
    for placeholder, value in values.items():
        config = config.replace(placeholder, value)
    return config


class Cluster:
    """The replicas, their action server and nginx, as one supervised set of processes."""

    def __init__(
        self,
        replicas: int,
        env: Mapping[str, str] | None = None,
        port: int = 8080,
        log_dir: Path | None = None,
    ) -> None:
        env = dict(env or {})
        environ = {**os.environ, **env}
        missing = [f"{name} is not set ({what})" for name, what in REQUIRED_ENV.items()
                   if not environ.get(name)]  # fmt: skip
        if missing:
            raise RuntimeError("; ".join(missing))
        if replicas < 1:
            raise RuntimeError("--replicas must be at least 1")
        self.port = port
        action_port = free_port()
        self.bots = [
            BotServer(rasa_port=free_port(), action_port=action_port, env=env)
            for _ in range(replicas)
        ]
        self.run_dir = Path(tempfile.mkdtemp(prefix="bot-nginx-"))
        # nginx's workers (another user when started as root) write request bodies here.
        self.run_dir.chmod(0o755)
        services = [self.bots[0].action_service()]
        for number, bot in enumerate(self.bots):
            service = bot.rasa_service("run")
            service.name = f"rasa-{number}"
            services.append(service)
        services.append(self.nginx_service())
        self.supervisor = Supervisor(services, log_dir=log_dir)

    @property
    def settings(self) -> Settings:
        return self.bots[0].settings

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def rest_url(self) -> str:
        return f"{self.url}/webhooks/rest/webhook"

    def nginx_service(self) -> Service:
        config = self.run_dir / "nginx.conf"
        ports = [bot.rasa_port for bot in self.bots]
        max_bytes = self.settings.limits.max_request_bytes
        config.write_text(render_nginx_config(ports, self.port, self.run_dir, max_bytes))
        args = [nginx_binary(), "-p", str(self.run_dir), "-e", str(self.run_dir / "error.log"),
                "-c", str(config), "-g", "daemon off;"]  # fmt: skip
        return Service("nginx", args, f"{self.url}/webhooks/rest/", start_timeout=240)

    def start(self) -> Cluster:
        self.supervisor.start()
        return self

    def stop(self) -> None:
        self.supervisor.stop()
        for bot in self.bots:
            bot.stop()
        shutil.rmtree(self.run_dir, ignore_errors=True)

    def __enter__(self) -> Cluster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--replicas", type=int, default=2, help="Rasa servers (default 2)")
    args = parser.parse_args()
    try:
        cluster = Cluster(args.replicas, port=int(os.environ.get("PORT", 8080)))
        check_services(cluster.settings)
    except (RuntimeError, SettingsError, ServiceUnavailable) as error:
        print(f"Could not start the cluster: {error}", file=sys.stderr)
        return 1
    cluster.supervisor.stop_on_signals()
    print(f"Starting {args.replicas} replicas (loading the model in each)...", flush=True)
    try:
        cluster.start()
    except (RuntimeError, TimeoutError) as error:
        print(f"Could not start the cluster: {error}", file=sys.stderr)
        return 1
    except InterruptedError:
        return 0
    for number, bot in enumerate(cluster.bots):
        print(f"Replica {number}:       {bot.url}")
    print(f"Action server:   {cluster.bots[0].action_url}/webhook")
    print(f"Entry point:     http://localhost:{cluster.port}")
    print(f"REST channel:    http://localhost:{cluster.port}/webhooks/rest/webhook")
    print(f"Chat page:       http://localhost:{cluster.port}/chat/")
    print("Ready. Press Ctrl-C to stop.", flush=True)
    cluster.supervisor.run()
    cluster.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
