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

from bot.serve import QUIET_ENV, RASA, ROOT, BotServer, free_port

RESULTS = ROOT / "bench" / "results.json"
CONFIGS = {"ours": ROOT / "config.yml", "stock": ROOT / "bench" / "stock_config.yml"}
CONCURRENCY = (1, 10, 50)
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
    subprocess.run(
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
        env={**os.environ, **QUIET_ENV},
        check=True,
        stdout=subprocess.DEVNULL,
    )
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


def measure(model: Path, conversations_per_user: int) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        endpoints = {"tracker_store": {"type": "SQL", "dialect": "sqlite", "db": f"{tmp}/t.db"}}
        bot = BotServer(
            rasa_port=free_port(), action_port=free_port(), model=model, endpoints=endpoints
        )
        bot.start_actions()
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
    args = parser.parse_args()
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
    results["ratio_throughput_c10"] = round(
        results["ours"]["throughput_msgs_per_s"]["10"]
        / results["stock"]["throughput_msgs_per_s"]["10"],
        1,
    )
    RESULTS.write_text(json.dumps(results, indent=2) + "\n")
    print(table(results))
    print(f"Written to {RESULTS.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
