"""Child processes that stay up: start, wait until healthy, restart with back-off, stop all.

The launcher (`make run`) and the cluster (`make cluster`) describe their servers as
`Service`s and hand them to one `Supervisor`. A service that dies is restarted after 1,
2, 4 ... up to 30 s, while the others keep serving (the Rasa server answers red flags
without the action server). SIGTERM or Ctrl-C stops every child, every time: signals
only set a flag, each child runs in its own process group, and Linux kills a child
whose launcher died (PR_SET_PDEATHSIG), so no server is ever left behind.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ops.settings import ROOT

PR_SET_PDEATHSIG = 1
FIRST_BACKOFF_SECONDS = 1.0
MAX_BACKOFF_SECONDS = 30.0
# A service that stayed up this long is healthy again: its back-off starts over.
STABLE_SECONDS = 60.0
STOP_GRACE_SECONDS = 10.0


def die_with_parent() -> None:
    """Run in the child before exec: the kernel sends SIGTERM when the launcher dies."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def answers(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=2):
            return True
    except OSError:
        return False


@dataclass
class Service:
    name: str
    args: list[str]
    health_url: str
    env: dict[str, str] = field(default_factory=dict)
    start_timeout: float = 180.0
    process: subprocess.Popen | None = None
    started_at: float = 0.0
    backoff: float = FIRST_BACKOFF_SECONDS
    restart_at: float | None = None


class Supervisor:
    def __init__(
        self,
        services: list[Service],
        log_dir: Path | None = None,
        report: Callable[[str], None] = lambda line: print(line, file=sys.stderr, flush=True),
    ) -> None:
        self.services = services
        self.log_dir = log_dir
        self.report = report
        self.stopping = False

    def process(self, name: str) -> subprocess.Popen:
        """The running process of the service called `name`."""
        return next(s.process for s in self.services if s.name == name)

    def _spawn(self, service: Service) -> None:
        output = None
        if self.log_dir is not None:
            self.log_dir.mkdir(parents=True, exist_ok=True)
            output = open(self.log_dir / f"{service.name}.log", "ab")  # noqa: SIM115 - lives with the process
        service.process = subprocess.Popen(
            service.args,
            cwd=ROOT,
            env={**os.environ, **service.env},
            stdout=output,
            stderr=subprocess.STDOUT if output else None,
            start_new_session=True,  # its own process group: Sanic workers stop with it
            preexec_fn=die_with_parent,
        )
        if output is not None:
            output.close()  # the child holds its own copy
        service.started_at = time.monotonic()

    def _wait_until_healthy(self, service: Service) -> None:
        deadline = time.monotonic() + service.start_timeout
        while not answers(service.health_url):
            if self.stopping:
                raise InterruptedError("stopping")
            if service.process.poll() is not None:
                raise RuntimeError(
                    f"the {service.name} server exited with code {service.process.returncode}"
                )
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"the {service.name} server did not answer within {service.start_timeout:.0f} s"
                )
            time.sleep(0.2)

    def start(self) -> Supervisor:
        """Start every service (all at once), and return once each one answers."""
        try:
            for service in self.services:
                self._spawn(service)
            for service in self.services:
                self._wait_until_healthy(service)
        except BaseException:
            self.stop()
            raise
        return self

    def start_one(self, name: str) -> None:
        """Start one service and wait until it answers (benchmarks time each start)."""
        service = next(s for s in self.services if s.name == name)
        self._spawn(service)
        self._wait_until_healthy(service)

    def stop(self) -> None:
        running = [s.process for s in self.services if s.process and s.process.poll() is None]
        for process in running:
            with contextlib.suppress(ProcessLookupError):  # exited on its own meanwhile
                os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + STOP_GRACE_SECONDS
        for process in running:
            try:
                process.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)
                process.wait()

    def request_stop(self, *_: object) -> None:
        """Signal handler: start() or run() stops everything at its next step."""
        self.stopping = True

    def stop_on_signals(self) -> None:
        """SIGTERM (a service manager) and Ctrl-C stop every service."""
        for sig in (signal.SIGTERM, signal.SIGINT):
            signal.signal(sig, self.request_stop)

    def restart_dead(self, now: float) -> None:
        for service in self.services:
            if service.process.poll() is None:
                if now - service.started_at > STABLE_SECONDS:
                    service.backoff = FIRST_BACKOFF_SECONDS
                continue
            if service.restart_at is None:
                service.restart_at = now + service.backoff
                self.report(
                    f"The {service.name} server stopped (exit code {service.process.returncode}); "
                    f"restarting it in {service.backoff:.0f} s."
                )
            elif now >= service.restart_at:
                service.restart_at = None
                service.backoff = min(service.backoff * 2, MAX_BACKOFF_SECONDS)
                self._spawn(service)

    def run(self) -> None:
        """Keep the services up until request_stop(); then stop them all."""
        try:
            while not self.stopping:
                self.restart_dead(time.monotonic())
                time.sleep(0.2)
        finally:
            self.stop()

    def __enter__(self) -> Supervisor:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
