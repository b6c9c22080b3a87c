"""`make bench`: our bot against Rasa's stock pipeline, trained on the same data, same run.

Both are trained from scratch, started with the action server, and driven over the REST
channel by simulated users, each holding fresh 10-turn conversations. The machine is shared
and noisy, so the result that matters is the ratio between the two, measured side by side.
Beside them, at 10 users: ours with more Rasa workers, with more action-server workers, and
the production setup (PostgreSQL + Redis, one Rasa worker per core).
Writes bench/results.json; `--profile` records a flame graph of ours under load instead.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import psycopg2

from ops.launcher import RASA, SERVER_ENV, BotServer, free_port, rasa_workers
from ops.settings import ENDPOINTS_FILE, MODEL_PATH, ROOT, load

RESULTS = ROOT / "bench" / "results.json"
PROFILE = ROOT / "results" / "profile.svg"
PY_SPY = str(Path(sys.executable).with_name("py-spy"))
CONFIGS = {"ours": ROOT / "config.yml", "stock": ROOT / "bench" / "stock_config.yml"}
CONCURRENCY = (1, 10, 50)
# The level the targets are set at; the other setups are measured only there.
TARGET_USERS = 10
CORES = os.cpu_count() or 1
SWEEP_LENGTHS = (5, 50, 200)
SWEEP_CONVERSATIONS = 4
# Rasa's own SQL store replays the whole session every turn: the sweep's reference.
STOCK_STORE_ENDPOINTS = ROOT / "bench" / "stock_store_endpoints.yml"
TRACKER_STORES = {"snapshot": ENDPOINTS_FILE, "rasa_sql": STOCK_STORE_ENDPOINTS}
POSTGRES = {"host": "127.0.0.1", "port": 5432, "user": "postgres"}
REDIS_URL = "redis://127.0.0.1:6379/0"
RSS_SAMPLE_SECONDS = 0.25
CONVERSATION = [
    "hi",
    "why does my upper back hurt after lifting",
    "what about heat?",
    "how long should I ice it",
    "does massage help",
    "it's been hurting for 3 weeks",
    "what tests might the doctor do",
    "and how do I prevent it?",
    "thanks",
    "bye",
]


@dataclass(frozen=True)
class Setup:
    """One way of serving a model: how many processes, on which stores."""

    config: str  # a CONFIGS key
    workers: int = 1
    action_workers: int = 1
    production: bool = False  # PostgreSQL and Redis instead of the embedded default
    levels: tuple[int, ...] = (TARGET_USERS,)


# "ours" is what `make run` serves on the embedded default; "stock" is Rasa's stock
# pipeline on the same stores, one process, as `rasa run` would.
SETUPS = {
    "ours": Setup("ours", workers=rasa_workers(load({})), levels=CONCURRENCY),
    "stock": Setup("stock", levels=CONCURRENCY),
    f"ours_{CORES}_rasa_workers": Setup("ours", workers=CORES),
    f"ours_{CORES}_action_workers": Setup("ours", action_workers=CORES),
    "production": Setup(
        "ours", workers=rasa_workers(load({"REDIS_URL": REDIS_URL})), production=True
    ),
}
# What the issue asks of `make bench` (issue 15), as (comparison, bound).
TARGETS = {
    "throughput_10_users_vs_stock": (">=", 5.0),
    "p99_10_users_ms": ("<=", 100.0),
    "turn_200_vs_turn_5": ("<=", 1.2),
    "cold_start_s": ("<=", 10.0),
    "peak_rss_mb_per_rasa_process": ("<=", 600.0),
}


def train(config: Path, out: Path) -> float:
    started = time.monotonic()
    result = subprocess.run(
        [
            RASA,
            "train",
            "--config",
            str(config),
            "--out",
            str(out),
            "--fixed-model-name",
            config.stem,
            "--force",
        ],  # fmt: skip
        cwd=ROOT,
        env={**os.environ, **SERVER_ENV},
        capture_output=True,
        text=True,
    )
    if result.returncode != 0:
        raise RuntimeError(f"training {config.name} failed:\n{result.stderr[-3000:]}")
    return time.monotonic() - started


def process_tree(pid: int) -> list[int]:
    """`pid` and all its descendants (Sanic's workers are the Rasa server's children)."""
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return [pid]
    return [pid, *(c for p in found for c in process_tree(int(p)))]


def rss_mb(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except FileNotFoundError:
        pass
    return 0.0


class PeakRss:
    """Samples the resident memory of a process tree until stopped: the peak of any one
    process, and of all of them together."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.per_process = 0.0
        self.total = 0.0
        self.last_total = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        while not self._stop.wait(RSS_SAMPLE_SECONDS):
            sizes = [rss_mb(pid) for pid in process_tree(self.pid)]
            self.per_process = max(self.per_process, *sizes)
            self.last_total = sum(sizes)
            self.total = max(self.total, self.last_total)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()


async def send(session: aiohttp.ClientSession, url: str, sender: str, text: str) -> float:
    started = time.perf_counter()
    async with session.post(url, json={"sender": sender, "message": text}) as response:
        response.raise_for_status()
        if not await response.json():
            raise RuntimeError("the bot sent no reply")
    return time.perf_counter() - started


async def user(session: aiohttp.ClientSession, url: str, conversations: int, latencies: list):
    for _ in range(conversations):
        sender = f"bench-{uuid.uuid4()}"
        for text in CONVERSATION:
            latencies.append(await send(session, url, sender, text))


async def load(url: str, users: int, conversations_per_user: int) -> dict:
    latencies: list[float] = []
    connector = aiohttp.TCPConnector(limit=users)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(
            *(user(session, url, conversations_per_user, latencies) for _ in range(users))
        )
        elapsed = time.perf_counter() - started
    quantiles = statistics.quantiles(latencies, n=100)
    return {
        "throughput_msgs_per_s": len(latencies) / elapsed,
        "p50_ms": quantiles[49] * 1000,
        "p95_ms": quantiles[94] * 1000,
        "p99_ms": quantiles[98] * 1000,
    }


@contextlib.contextmanager
def scratch_postgres_database() -> Iterator[str]:
    """A fresh database on the machine's PostgreSQL; its URL. Dropped on exit."""
    name = f"bench_{uuid.uuid4().hex[:12]}"
    admin = psycopg2.connect(dbname="postgres", **POSTGRES)
    admin.autocommit = True
    try:
        admin.cursor().execute(f"CREATE DATABASE {name}")
        yield f"postgresql://{POSTGRES['user']}@{POSTGRES['host']}:{POSTGRES['port']}/{name}"
    finally:
        admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.close()


@contextlib.contextmanager
def running_bot(
    model: Path, setup: Setup = SETUPS["ours"], endpoints: Path = ENDPOINTS_FILE
) -> Iterator[BotServer]:
    """The action server, started and up; Rasa's is the caller's to start (and time)."""
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        env = {
            "DATABASE_URL": f"sqlite:///{tmp}/conversations.db",
            "DATABASE_FILE": f"{tmp}/conversations.db",  # the stock store's, same file
            "LOCK_FILE": f"{tmp}/locks",
            "ACTION_SERVER_SANIC_WORKERS": str(setup.action_workers),
        }
        if setup.production:
            env["DATABASE_URL"] = stack.enter_context(scratch_postgres_database())
            env["REDIS_URL"] = REDIS_URL
        bot = BotServer(
            rasa_port=free_port(),
            action_port=free_port(),
            model=model,
            env=env,
            log_dir=Path(tmp),
            endpoints_file=endpoints,
            workers=setup.workers,
        )
        try:
            bot.start_actions()
            yield bot
        finally:
            bot.stop()


def start_until_first_answer(bot: BotServer) -> float:
    """Seconds from starting the Rasa server to its first answer."""
    started = time.monotonic()
    bot.start_rasa()

    async def first_answer() -> None:
        async with aiohttp.ClientSession() as session:
            await send(session, bot.rest_url, f"bench-{uuid.uuid4()}", CONVERSATION[1])

    asyncio.run(first_answer())
    return time.monotonic() - started


async def long_conversation(session: aiohttp.ClientSession, url: str, turns: int) -> list:
    sender, latencies = f"sweep-{uuid.uuid4()}", []
    for turn in range(turns):
        message = CONVERSATION[1 + turn % (len(CONVERSATION) - 2)]
        latencies.append(await send(session, url, sender, message))
    return latencies


async def sweep_latencies(url: str) -> list[list[float]]:
    async with aiohttp.ClientSession() as session:
        return await asyncio.gather(
            *(
                long_conversation(session, url, max(SWEEP_LENGTHS))
                for _ in range(SWEEP_CONVERSATIONS)
            )
        )


def length_sweep(model: Path) -> dict:
    """Per-turn latency at turn 5, 50 and 200 of long conversations, per tracker store."""
    sweep: dict = {}
    for name, tracker_store in TRACKER_STORES.items():
        with running_bot(model, endpoints=tracker_store) as bot:
            bot.start_rasa()
            conversations = asyncio.run(sweep_latencies(bot.rest_url))
        for length in SWEEP_LENGTHS:
            # The five turns up to `length`, in every conversation.
            samples = sorted(t for c in conversations for t in c[length - 5 : length])
            sweep.setdefault(name, {})[str(length)] = {
                "p50_ms": round(statistics.median(samples) * 1000, 1),
                "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))] * 1000, 1),
            }
        first, last = sweep[name][str(SWEEP_LENGTHS[0])], sweep[name][str(SWEEP_LENGTHS[-1])]
        sweep[name]["ratio_p50_last_to_first"] = round(last["p50_ms"] / first["p50_ms"], 2)
    return sweep


def measure(model: Path, setup: Setup, conversations_per_user: int) -> dict:
    with running_bot(model, setup) as bot:
        startup_s = start_until_first_answer(bot)
        memory = PeakRss(bot.supervisor.process("rasa").pid)
        try:
            result: dict = {
                "rasa_workers": setup.workers,
                "action_workers": setup.action_workers,
                "startup_s": round(startup_s, 1),
            }
            for users in setup.levels:
                # Warm up, then measure.
                asyncio.run(load(bot.rest_url, users, 1))
                levels = asyncio.run(load(bot.rest_url, users, conversations_per_user))
                for key, value in levels.items():
                    result.setdefault(key, {})[str(users)] = round(value, 1)
        finally:
            memory.stop()
        result["rss_mb"] = round(memory.per_process, 1)
        result["rss_mb_all_rasa_processes"] = round(memory.total, 1)
        return result


async def steady_user(url: str, until: float, counts: dict) -> None:
    """One message a second from a user who starts a new conversation every 10 turns."""
    async with aiohttp.ClientSession() as session:
        turn, sender = 0, ""
        while time.monotonic() < until:
            if turn % len(CONVERSATION) == 0:
                sender = f"soak-{uuid.uuid4()}"
            started = time.monotonic()
            try:
                async with session.post(
                    url, json={"sender": sender, "message": CONVERSATION[turn % len(CONVERSATION)]}
                ) as response:
                    ok = response.status == 200 and bool(await response.json())
            except aiohttp.ClientError:
                ok = False
            counts["messages"] += 1
            counts["errors"] += not ok
            turn += 1
            await asyncio.sleep(max(0.0, 1 - (time.monotonic() - started)))


async def sample_rss(memory: PeakRss, until: float, samples: list) -> None:
    while time.monotonic() < until:
        samples.append(memory.last_total)
        await asyncio.sleep(10)


def soak(model: Path, seconds: float, rate: int) -> dict:
    """`rate` messages a second for `seconds`: errors must be 0, memory flat."""
    with running_bot(model) as bot:
        bot.start_rasa()
        memory = PeakRss(bot.supervisor.process("rasa").pid)
        try:
            asyncio.run(load(bot.rest_url, rate, 1))  # warm up before the first sample
            counts, samples = {"messages": 0, "errors": 0}, []
            until = time.monotonic() + seconds

            async def run() -> None:
                await asyncio.gather(
                    sample_rss(memory, until, samples),
                    *(steady_user(bot.rest_url, until, counts) for _ in range(rate)),
                )

            asyncio.run(run())
        finally:
            memory.stop()
    return {
        "seconds": seconds,
        "rate_msgs_per_s": rate,
        **counts,
        "rss_mb_start": round(samples[0], 1),
        "rss_mb_end": round(samples[-1], 1),
        "rss_growth_pct": round((samples[-1] / samples[0] - 1) * 100, 1),
    }


# Where a sample of the event-loop thread is: the first of these its stack is in (the
# README's profile table). py-spy cuts some deep stacks, so a frame anywhere counts.
LOOP_SHARES = {
    "validating action results (jsonschema)": ("jsonschema/",),
    "NLU parse": ("parse_message (rasa/core/processor.py",),
    "policy predictions": ("_predict_next_with_tracker", "_predict_next_action_with_policies"),
    "the action call": ("run (rasa/core/actions/action.py", "_run_action (rasa/core/processor.py"),
    "tracker store on the loop": ("bot/stores/tracker_store.py", "rasa/core/tracker_store.py"),
    "lock store": ("bot/stores/lock_store.py",),
    "Sanic and our channel": ("sanic/app.py", "sanic/http", "bot/channels/"),
}
# Sanic's loop waiting for I/O (uvloop runs it in C, so the stack ends in Sanic's serve()).
IDLE_LEAF = "serve (sanic/server/runners.py"


def loop_shares(raw_stacks: Path) -> dict[str, float]:
    """Shares of the event-loop thread's samples in py-spy's raw output, by LOOP_SHARES."""
    counts: dict[str, int] = {}
    for line in raw_stacks.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        frames = stack.split(";")
        if frames[1].startswith("_bootstrap (threading.py"):
            continue  # the stores' threads
        if frames[-1].startswith(IDLE_LEAF):
            where = "idle, waiting for I/O"
        elif frames[-1].split(" ", 1)[-1].startswith("(dask/"):
            where = "dask's own frames"
        else:
            where = next(
                (name for name, marks in LOOP_SHARES.items() if any(m in stack for m in marks)),
                "other",
            )
        counts[where] = counts.get(where, 0) + int(samples)
    total = sum(counts.values())
    return {name: n / total for name, n in sorted(counts.items(), key=lambda kv: -kv[1])}


def profile(seconds: float, output: Path) -> None:
    """A py-spy flame graph of our Rasa server (every worker) under 10 users' load."""
    output.parent.mkdir(parents=True, exist_ok=True)
    with running_bot(MODEL_PATH) as bot:
        bot.start_rasa()
        url = bot.rest_url
        asyncio.run(load(url, TARGET_USERS, 1))  # warm up
        # --subprocesses: Sanic's workers too; --nonblocking: never pause the server.
        command = [PY_SPY, "record", "--pid", str(bot.supervisor.process("rasa").pid),
                   "--subprocesses", "--nonblocking", "--rate", "200",
                   "--duration", str(int(seconds)), "--output", str(output)]  # fmt: skip
        format_ = "raw" if output.suffix == ".txt" else "flamegraph"
        spy = subprocess.Popen([*command, "--format", format_])
        while spy.poll() is None:
            asyncio.run(load(url, TARGET_USERS, 1))
    if spy.returncode != 0:
        raise RuntimeError(f"py-spy exited with code {spy.returncode}")
    if format_ == "raw":
        for name, share in loop_shares(output).items():
            print(f"{share:6.1%}  {name}")
    print(f"{'Stacks' if format_ == 'raw' else 'Flame graph'}: {output}")


def targets(results: dict) -> dict:
    ours, stock = results["ours"], results["stock"]
    users = str(TARGET_USERS)
    values = {
        "throughput_10_users_vs_stock": ours["throughput_msgs_per_s"][users]
        / stock["throughput_msgs_per_s"][users],
        "p99_10_users_ms": ours["p99_ms"][users],
        "turn_200_vs_turn_5": results["length_sweep"]["snapshot"]["ratio_p50_last_to_first"],
        "cold_start_s": ours["startup_s"],
        "peak_rss_mb_per_rasa_process": ours["rss_mb"],
    }
    met = {">=": float.__ge__, "<=": float.__le__}
    return {
        name: {
            "value": round(value, 2),
            "target": f"{comparison} {bound:g}",
            "met": met[comparison](float(value), bound),
        }
        for name, value in values.items()
        for comparison, bound in [TARGETS[name]]
    }


def table(results: dict) -> str:
    rows = ["| | ours | stock | ratio |", "|---|---|---|---|"]
    ours, stock = results["ours"], results["stock"]
    for users in map(str, CONCURRENCY):
        for key, unit in (("throughput_msgs_per_s", "msg/s"), ("p99_ms", "ms p99")):
            a, b = ours[key][users], stock[key][users]
            rows.append(f"| {unit} @ {users} users | {a} | {b} | {a / b:.1f}x |")
    for key in ("startup_s", "rss_mb", "train_s"):
        rows.append(f"| {key} | {ours[key]} | {stock[key]} | {ours[key] / stock[key]:.2f}x |")
    users = str(TARGET_USERS)
    for name, result in results.items():
        if name in SETUPS and name not in ("ours", "stock"):
            rows.append(
                f"| {name} @ {users} users: msg/s, p99 ms, RSS MB | "
                f"{result['throughput_msgs_per_s'][users]}, {result['p99_ms'][users]}, "
                f"{result['rss_mb']} | | |"
            )
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=3, help="per user and level")
    parser.add_argument("--soak", type=float, metavar="SECONDS", help="soak test ours only")
    parser.add_argument("--rate", type=int, default=10, help="soak messages per second")
    parser.add_argument(
        "--profile", type=float, metavar="SECONDS", help="flame graph of ours under load"
    )
    parser.add_argument(
        "--profile-output", type=Path, default=PROFILE, help=".svg, or .txt for raw stacks"
    )
    args = parser.parse_args()
    if args.profile:
        profile(args.profile, args.profile_output)
        return
    if args.soak:
        with tempfile.TemporaryDirectory() as models:
            train(CONFIGS["ours"], Path(models))
            result = soak(Path(models) / "config.tar.gz", args.soak, args.rate)
        results = json.loads(RESULTS.read_text()) if RESULTS.exists() else {}
        RESULTS.write_text(json.dumps({**results, "soak": result}, indent=2) + "\n")
        print(json.dumps(result, indent=2))
        return
    results: dict = {}
    with tempfile.TemporaryDirectory() as models:
        trained: dict[str, Path] = {}
        for name, config in CONFIGS.items():
            print(f"Training {name} from scratch...", flush=True)
            train_s = train(config, Path(models))
            trained[name] = Path(models) / f"{config.stem}.tar.gz"
            results[name] = {"train_s": round(train_s, 1)}
        for name, setup in SETUPS.items():
            print(f"Measuring {name}...", flush=True)
            results[name] = {
                **measure(trained[setup.config], setup, args.conversations),
                **results.get(name, {}),
            }
        print("Conversation-length sweep...", flush=True)
        results["length_sweep"] = length_sweep(trained["ours"])
    results["targets"] = targets(results)
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(json.dumps({k: results[k] for k in ("length_sweep", "targets")}, indent=2))
    print(f"Written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
