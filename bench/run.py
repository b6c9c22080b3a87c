"""`make bench`: our bot against Rasa's stock pipeline, trained on the same data, same run.

Both are trained from scratch, started with the action server, and driven over the REST
channel by simulated users, each holding fresh 10-turn conversations. The machine is shared
and noisy, so the result that matters is the ratio between the two, measured side by side.
Writes bench/results.json.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp

from ops.launcher import RASA, ROOT, SERVER_ENV, BotServer, free_port

RESULTS = ROOT / "bench" / "results.json"
CONFIGS = {"ours": ROOT / "config.yml", "stock": ROOT / "bench" / "stock_config.yml"}
CONCURRENCY = (1, 10, 50)
SWEEP_LENGTHS = (5, 50, 200)
SWEEP_CONVERSATIONS = 4
# Rasa's own SQL store replays the whole session every turn: the sweep's reference.
TRACKER_STORES = {"snapshot": "bot.stores.tracker_store.SnapshotSQLTrackerStore", "rasa_sql": "SQL"}
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


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children, in MB."""
    total = 0
    for child in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{child}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total / 1024


def children(pid: int) -> list[int]:
    try:
        found = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except FileNotFoundError:
        return []
    return [int(c) for p in found for c in [p, *children(int(p))]]


async def user(session: aiohttp.ClientSession, url: str, conversations: int, latencies: list):
    for _ in range(conversations):
        sender = f"bench-{uuid.uuid4()}"
        for text in CONVERSATION:
            started = time.perf_counter()
            async with session.post(url, json={"sender": sender, "message": text}) as response:
                response.raise_for_status()
                await response.json()
            latencies.append(time.perf_counter() - started)


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


def started_bot(model: Path, tmp: str, tracker_store: str = TRACKER_STORES["snapshot"]):
    # Our store reads DATABASE_URL; Rasa's SQL store takes its file from endpoints.
    store = {"type": tracker_store}
    if tracker_store == TRACKER_STORES["rasa_sql"]:
        store.update(dialect="sqlite", db=f"{tmp}/conversations.db")
    bot = BotServer(
        rasa_port=free_port(),
        action_port=free_port(),
        model=model,
        endpoints={"tracker_store": store},
        log_dir=Path(tmp),
        environ={"DATABASE_URL": f"sqlite:///{tmp}/conversations.db"},
    )
    bot.start_actions()
    return bot


async def long_conversation(session: aiohttp.ClientSession, url: str, turns: int) -> list:
    sender, latencies = f"sweep-{uuid.uuid4()}", []
    for turn in range(turns):
        started = time.perf_counter()
        message = CONVERSATION[1 + turn % (len(CONVERSATION) - 2)]
        async with session.post(url, json={"sender": sender, "message": message}) as response:
            response.raise_for_status()
            await response.json()
        latencies.append(time.perf_counter() - started)
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
        with tempfile.TemporaryDirectory() as tmp:
            bot = started_bot(model, tmp, tracker_store)
            try:
                bot.start_rasa()
                conversations = asyncio.run(sweep_latencies(bot.rest_url))
            finally:
                bot.stop()
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


def measure(model: Path, conversations_per_user: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        bot = started_bot(model, tmp)
        started = time.monotonic()
        bot.start_rasa()
        startup_s = time.monotonic() - started
        try:
            result: dict = {"startup_s": startup_s, "rss_mb": 0.0}
            for users in CONCURRENCY:
                # Warm up, then measure.
                asyncio.run(load(bot.rest_url, users, 1))
                levels = asyncio.run(load(bot.rest_url, users, conversations_per_user))
                for key, value in levels.items():
                    result.setdefault(key, {})[str(users)] = round(value, 1)
                result["rss_mb"] = max(result["rss_mb"], rss_mb(bot.processes["rasa"].pid))
            result["rss_mb"] = round(result["rss_mb"], 1)
            result["startup_s"] = round(startup_s, 1)
            return result
        finally:
            bot.stop()


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


async def sample_rss(pid: int, until: float, samples: list) -> None:
    while time.monotonic() < until:
        samples.append(rss_mb(pid))
        await asyncio.sleep(10)


def soak(model: Path, seconds: float, rate: int) -> dict:
    """`rate` messages a second for `seconds`: errors must be 0, memory flat."""
    with tempfile.TemporaryDirectory() as tmp:
        bot = started_bot(model, tmp)
        try:
            bot.start_rasa()
            asyncio.run(load(bot.rest_url, rate, 1))  # warm up before the first sample
            counts, samples = {"messages": 0, "errors": 0}, []
            until = time.monotonic() + seconds

            async def run() -> None:
                await asyncio.gather(
                    sample_rss(bot.processes["rasa"].pid, until, samples),
                    *(steady_user(bot.rest_url, until, counts) for _ in range(rate)),
                )

            asyncio.run(run())
        finally:
            bot.stop()
    return {
        "seconds": seconds,
        "rate_msgs_per_s": rate,
        **counts,
        "rss_mb_start": round(samples[0], 1),
        "rss_mb_end": round(samples[-1], 1),
        "rss_growth_pct": round((samples[-1] / samples[0] - 1) * 100, 1),
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
    return "\n".join(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--conversations", type=int, default=3, help="per user and level")
    parser.add_argument("--soak", type=float, metavar="SECONDS", help="soak test ours only")
    parser.add_argument("--rate", type=int, default=10, help="soak messages per second")
    args = parser.parse_args()
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
        for name, config in CONFIGS.items():
            print(f"Training {name} from scratch...", flush=True)
            train_s = train(config, Path(models))
            print(f"Measuring {name}...", flush=True)
            results[name] = {
                **measure(Path(models) / f"{config.stem}.tar.gz", args.conversations),
                "train_s": round(train_s, 1),
            }
            if name == "ours":
                print("Conversation-length sweep...", flush=True)
                results["length_sweep"] = length_sweep(Path(models) / f"{config.stem}.tar.gz")
    results["ratio_throughput_c10"] = round(
        results["ours"]["throughput_msgs_per_s"]["10"]
        / results["stock"]["throughput_msgs_per_s"]["10"],
        1,
    )
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(json.dumps(results["length_sweep"], indent=2))
    print(f"Written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
