"""`make run`'s launcher: a dead action server comes back, Rasa keeps serving meanwhile,
and SIGTERM stops every server it started, every time."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest
from helpers.checkout import launcher_checkout
from helpers.servers import OUTPUT_DIR, RestClient

from ops.launcher import SERVER_ENV, free_port

pytestmark = pytest.mark.bot

PROMISED_SECONDS = 5
START_TIMEOUT = 240


def processes_under(root: Path) -> list[int]:
    """Pids of every process whose command line mentions `root` (our servers do)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if str(root) in command:
            found.append(int(entry.name))
    return found


def launch(checkout: Path, rasa_port: int, log_name: str) -> subprocess.Popen:
    env = {
        **os.environ,
        **SERVER_ENV,
        "RASA_PORT": str(rasa_port),
        "DATABASE_URL": f"sqlite:///{checkout / 'conversations.db'}",
        "LOCK_FILE": str(checkout / "locks.db"),
        "PYTHONUNBUFFERED": "1",
    }
    log = OUTPUT_DIR / "logs" / f"{log_name}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "ab") as output:
        # The checkout's path in every command line lets the test find what it started.
        return subprocess.Popen(
            [str(checkout / ".venv" / "bin" / "python"), "-m", "ops.launcher"],
            cwd=checkout, env=env, stdout=output, stderr=subprocess.STDOUT,
        )  # fmt: skip


def wait_for(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} within {timeout:.0f} s")
        time.sleep(0.2)


def answers(client: RestClient) -> bool:
    try:
        client.send(f"probe-{uuid.uuid4()}", "hello", timeout=10)
        return True
    except OSError:
        return False


def action_server_pid(checkout: Path) -> int | None:
    for pid in processes_under(checkout):
        try:
            command = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"rasa_sdk" in command:
            return pid
    return None


def test_a_dead_action_server_is_restarted_and_rasa_serves_meanwhile(
    tmp_path, knowledge, responses
):
    checkout = launcher_checkout(tmp_path / "repo", action_port=free_port())
    rasa_port = free_port()
    launcher = launch(checkout, rasa_port, "supervision")
    client = RestClient(f"http://127.0.0.1:{rasa_port}/webhooks/rest/webhook")
    try:
        wait_for(lambda: answers(client), START_TIMEOUT, "the bot did not answer")
        first = action_server_pid(checkout)
        os.kill(first, signal.SIGKILL)

        # Meanwhile: red flags as ever, and a polite reply in time for everything else.
        assert client.texts(f"s-{uuid.uuid4()}", "i have crushing chest pain") == [
            responses["utter_emergency"]
        ]
        started = time.monotonic()
        reply = client.texts(f"s-{uuid.uuid4()}", "does massage help")
        assert time.monotonic() - started < PROMISED_SECONDS
        assert reply in ([responses["utter_unavailable"]], [
            responses["utter_disclaimer"], knowledge.entries["massage"].answer
        ])  # fmt: skip

        def answered_again() -> bool:
            texts = client.texts(f"s-{uuid.uuid4()}", "does massage help")
            return knowledge.entries["massage"].answer in texts

        wait_for(answered_again, 60, "the action server did not come back")
        assert action_server_pid(checkout) not in (None, first)
        assert launcher.poll() is None
    finally:
        launcher.send_signal(signal.SIGTERM)
        launcher.wait(timeout=60)
    wait_for(lambda: not processes_under(checkout), 15, "servers were left running")


def test_sigterm_stops_every_server_every_time(tmp_path):
    checkout = launcher_checkout(tmp_path / "repo", action_port=free_port())
    rng = random.Random(9)
    for attempt in range(8):
        launcher = launch(checkout, free_port(), "supervision-sigterm")
        # Anywhere from mid-start-up to fully up.
        time.sleep(rng.uniform(0.5, 20))
        launcher.send_signal(signal.SIGTERM)
        # 0 once it handles signals; killed outright before that, when it has no children.
        assert launcher.wait(timeout=60) in (0, -signal.SIGTERM), f"attempt {attempt}"
        wait_for(lambda: not processes_under(checkout), 20, f"orphans after attempt {attempt}")


def test_the_launcher_refuses_to_start_when_a_setting_is_wrong(tmp_path):
    checkout = launcher_checkout(tmp_path / "repo", action_port=free_port())
    env = {**os.environ, "ACTION_SERVER_HOST": "0.0.0.0", "RASA_PORT": str(free_port())}
    result = subprocess.run(
        [sys.executable, "-m", "ops.launcher"], cwd=checkout, env=env,
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 1
    assert "ACTION_SERVER_TOKEN" in result.stderr
    assert not processes_under(checkout)
