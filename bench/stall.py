"""How much one customer's large bodies slow everyone else (issue 15, item 1).

Starts `farebox serve` pinned to core 0, in front of bench/slow_upstream.py (canned answers,
no delay) on core 1, with two accounts: `big` sends the largest bodies the gateway accepts, back to back
from `--big-clients` connections, while `small` sends a tiny chat request every 20 ms from one
connection and records its latency. The same is run without `big` first. It prints the small
client's p50/p90/p99 both ways and the difference.

    .venv/bin/python bench/stall.py [--farebox-cmd ".venv/bin/farebox"] [--seconds 10] [--shape many|one]

`--shape many`: as many one-word messages as fit in `--body-bytes` (at most `--max-messages`;
the review's body was 18.7 MB of 550,000 messages); `one`: one message of one long text. The big
key is rate limited at `--big-rpm` and honours Retry-After, as the SDKs do: "as fast as its rate
limit allows". Loopback only; every
loop is bounded by --seconds.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

REPO = Path(__file__).resolve().parent.parent
CONFIG = """
database: sqlite:///{db}
listen: {{host: 127.0.0.1, port: {port}}}
log_requests: false
tiers:
  bench: {{rank: 1, rpm: 100000000, burst_rpm: 100000000}}
providers:
  up: {{kind: openai, base_url: "http://127.0.0.1:{upstream}/v1"}}
models:
  bench-json:
    tier: bench
    context: 100000000
    max_output: 16
    price: {{input: 0.0000001, output: 0.0000001}}
    deployments: [{{provider: up, model: canned}}]
"""
SMALL = {"model": "bench-json", "messages": [{"role": "user", "content": "ping"}], "max_tokens": 4}


def big_body(shape: str, size: int, max_messages: int) -> bytes:
    if shape == "one":
        return json.dumps({"model": "bench-json", "max_tokens": 4,
                           "messages": [{"role": "user", "content": "word " * (size // 5)}]}).encode()
    per_message = len(json.dumps({"role": "user", "content": "word"})) + 1
    count = min(max_messages, size // per_message)
    filler = "word " * max(0, (size // max(count, 1) - per_message) // 5)
    messages = [{"role": "user", "content": ("word " + filler).strip()}] * count
    return json.dumps({"model": "bench-json", "max_tokens": 4, "messages": messages}).encode()


def farebox(command: str, env: dict[str, str], *args: str) -> str:
    words = shlex.split(command)
    return subprocess.run([*words, *args], env=env, capture_output=True, text=True, check=True,
                          cwd=REPO).stdout


async def small_client(session: aiohttp.ClientSession, url: str, key: str, seconds: float) -> list[float]:
    latencies: list[float] = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        started = time.perf_counter()
        async with session.post(url, json=SMALL, headers={"Authorization": f"Bearer {key}"}) as reply:
            await reply.read()
            assert reply.status == 200, reply.status
        latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(0.02)
    return latencies


async def big_client(session: aiohttp.ClientSession, url: str, key: str, body: bytes, seconds: float) -> dict[int, int]:
    statuses: dict[int, int] = {}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        async with session.post(url, data=body, headers={"Authorization": f"Bearer {key}",
                                                         "Content-Type": "application/json"}) as reply:
            await reply.read()
            statuses[reply.status] = statuses.get(reply.status, 0) + 1
            wait = float(reply.headers.get("Retry-After", 0)) if reply.status == 429 else 0.0
        if wait:  # as the official SDKs do
            await asyncio.sleep(min(wait, max(0.0, deadline - time.monotonic())))
    return statuses


async def measure(url: str, small_key: str, big_key: str, body: bytes | None, clients: int,
                  seconds: float) -> tuple[list[float], dict[int, int]]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=120)) as session:
        bigs = [big_client(session, url, big_key, body, seconds) for _ in range(clients)] if body else []
        results = await asyncio.gather(small_client(session, url, small_key, seconds), *bigs)
    statuses: dict[int, int] = {}
    for result in results[1:]:
        for status, n in result.items():  # type: ignore[union-attr]
            statuses[status] = statuses.get(status, 0) + n
    return results[0], statuses  # type: ignore[return-value]


def percentiles(values: list[float]) -> str:
    q = statistics.quantiles(values, n=100)
    return f"p50 {q[49]:7.1f} ms  p90 {q[89]:7.1f} ms  p99 {q[98]:7.1f} ms  (n={len(values)})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--farebox-cmd", default=str(REPO / ".venv/bin/farebox"))
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--shape", choices=["many", "one"], default="many")
    parser.add_argument("--body-bytes", type=int, default=19_000_000)
    parser.add_argument("--max-messages", type=int, default=550_000)
    parser.add_argument("--big-clients", type=int, default=2)
    parser.add_argument("--big-rpm", type=int, default=500,
                        help="the big key's rate limit (elite's 500/min by default); it honours Retry-After")
    parser.add_argument("--port", type=int, default=18931)
    args = parser.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="farebox-stall-"))
    config = tmp / "farebox.yaml"
    config.write_text(CONFIG.format(db=tmp / "stall.db", port=args.port, upstream=args.port + 1))
    upstream = subprocess.Popen(["taskset", "-c", "1", sys.executable, str(REPO / "bench/slow_upstream.py"),
                                 "--port", str(args.port + 1), "--first-byte-ms", "0"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    env = dict(os.environ, FAREBOX_CONFIG=str(config))
    keys = {}
    for name in ("small", "big"):
        farebox(args.farebox_cmd, env, "accounts", "create", name, "--tier", "bench")
        farebox(args.farebox_cmd, env, "credits", "add", name, "1000")
        keys[name] = json.loads(farebox(args.farebox_cmd, env, "keys", "create", name, "--json"))["key"]
    farebox(args.farebox_cmd, env, "accounts", "set-limits", "big", "--rpm", str(args.big_rpm), "--burst-rpm",
            str(args.big_rpm))
    server = subprocess.Popen(["taskset", "-c", "0", *shlex.split(args.farebox_cmd), "serve", "--no-demo"], env=env,
                              cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{args.port}/v1/chat/completions"
    try:
        for _ in range(200):
            try:
                subprocess.run(["curl", "-sf", f"http://127.0.0.1:{args.port}/health"], check=True,
                               capture_output=True)
                break
            except subprocess.CalledProcessError:
                time.sleep(0.1)
        body = big_body(args.shape, args.body_bytes, args.max_messages)
        alone, _ = asyncio.run(measure(url, keys["small"], keys["big"], None, 0, args.seconds))
        loaded, statuses = asyncio.run(measure(url, keys["small"], keys["big"], body, args.big_clients,
                                               args.seconds))
    finally:
        server.terminate()
        server.wait(30)
        upstream.terminate()
        upstream.wait(30)
    print(f"big body: {len(body):,} bytes ({args.shape}), {args.big_clients} big clients, statuses {statuses}")
    print(f"small alone:      {percentiles(alone)}")
    print(f"small beside big: {percentiles(loaded)}")
    print(f"p50 rise: {statistics.median(loaded) - statistics.median(alone):+.1f} ms", file=sys.stdout)


if __name__ == "__main__":
    main()
