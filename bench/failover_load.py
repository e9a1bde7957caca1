"""Failover under load, on loopback: one model with two deployments (two fake upstream
processes), steady non-streaming load from a pool of aiohttp tasks, and one upstream killed
(SIGKILL) mid-run. Reports requests, client-visible errors (the goal: zero), p50/p99 latency
before and after the kill, and how long the killed deployment's circuit took to open.

    PYTHONPATH=src python bench/failover_load.py [--seconds 20] [--kill-at 8] [--concurrency 16]

Bounded: every process it starts is stopped at the end; everything listens on 127.0.0.1.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from aiohttp import web

ADMIN_KEY = "bench-admin-key"
HERE = Path(__file__).resolve()
CONFIG = """
database: sqlite:///{db}
log_requests: false
tiers: {{pro: {{rank: 1, rpm: 10000000, burst_rpm: 20000000}}}}
circuit: {{cooldown: 5}}
providers:
  up-a: {{kind: openai, base_url: "http://127.0.0.1:{port_a}/v1", timeouts: {{connect: 1, first_byte: 5, total: 10}}}}
  up-b: {{kind: openai, base_url: "http://127.0.0.1:{port_b}/v1", timeouts: {{connect: 1, first_byte: 5, total: 10}}}}
models:
  coder:
    tier: pro
    price: {{input: 0.2, output: 0.6}}
    deployments: [{{provider: up-a, model: m, weight: 1}}, {{provider: up-b, model: m, weight: 1}}]
"""
REPLY = (b'{"id":"x","object":"chat.completion","created":0,"model":"m","choices":[{"index":0,'
         b'"message":{"role":"assistant","content":"ok"},"finish_reason":"stop","logprobs":null}],'
         b'"usage":{"prompt_tokens":12,"completion_tokens":3,"total_tokens":15}}')


# -- child processes ------------------------------------------------------------------------------
async def serve_upstream(latency: float) -> None:
    """A minimal OpenAI-compatible upstream: a fixed reply after `latency` seconds."""
    async def chat(request: web.Request) -> web.Response:
        await request.read()
        await asyncio.sleep(latency)
        return web.Response(body=REPLY, content_type="application/json")

    app = web.Application()
    app.router.add_post("/v1/chat/completions", chat)
    await _serve(app, "")


async def serve_gateway(config_path: str) -> None:
    from farebox.app import create_app
    from farebox.config import parse_config
    from farebox.runtime import build_runtime
    from farebox.storage.db import migrate

    config = parse_config(Path(config_path).read_text(), config_path)
    migrate(config.database)
    runtime = build_runtime(config, admin_key=ADMIN_KEY)
    app = create_app(config, runtime=runtime)

    async def key() -> str:
        await runtime.operator.create_account("load", "pro")
        await runtime.operator.post_credit("load", "1000")
        created = (await runtime.operator.create_key("load"))["key"]
        await runtime.refresher.refresh()
        await runtime.ledger.sync_balances()
        return str(created)

    await _serve(app, "", extra=key)


async def _serve(app: web.Application, _: str, extra: Any = None) -> None:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    suffix = f" {await extra()}" if extra else ""
    print(f"READY {port}{suffix}", flush=True)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    await stop.wait()
    await runner.cleanup()


# -- the run --------------------------------------------------------------------------------------
@dataclass
class Result:
    requests: int = 0
    errors: int = 0
    error_samples: list[str] = field(default_factory=list)
    before: list[float] = field(default_factory=list)  # latencies (s) of requests sent before the kill
    after: list[float] = field(default_factory=list)
    circuit_open_after_s: float | None = None
    health: dict[str, Any] = field(default_factory=dict)
    upstream_a_failures: int = 0

    def report(self) -> str:
        def pct(values: list[float], q: float) -> str:
            if not values:
                return "-"
            ordered = sorted(values)
            return f"{ordered[min(len(ordered) - 1, int(q * len(ordered)))] * 1000:.1f} ms"

        opened = "never" if self.circuit_open_after_s is None else f"{self.circuit_open_after_s * 1000:.0f} ms"
        return "\n".join([
            f"requests: {self.requests}  client errors: {self.errors} {self.error_samples[:3] or ''}",
            f"before kill (after 1 s warm-up): n={len(self.before)} p50={pct(self.before, 0.5)}"
            f" p99={pct(self.before, 0.99)}"
            f" mean={statistics.fmean(self.before) * 1000 if self.before else 0:.1f} ms",
            f"after kill:  n={len(self.after)} p50={pct(self.after, 0.5)} p99={pct(self.after, 0.99)}"
            f" max={max(self.after, default=0) * 1000:.1f} ms",
            f"circuit of the killed deployment opened {opened} after the kill;"
            f" failed attempts on it: {self.upstream_a_failures}",
        ])


def _spawn(*args: str) -> tuple[subprocess.Popen[str], list[str]]:
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([str(HERE.parent.parent / "src"), os.environ.get(
        "PYTHONPATH", "")]))
    proc = subprocess.Popen([sys.executable, str(HERE), *args], stdout=subprocess.PIPE, text=True, env=env)
    assert proc.stdout is not None
    line = proc.stdout.readline().split()
    if not line or line[0] != "READY":
        proc.kill()
        raise RuntimeError(f"child {args} did not start")
    return proc, line[1:]


async def _worker(session: aiohttp.ClientSession, url: str, key: str, stop_at: float, kill: asyncio.Event,
                  result: Result, warm_until: float) -> None:
    body = {"model": "coder", "messages": [{"role": "user", "content": "hello"}], "max_tokens": 16}
    headers = {"Authorization": f"Bearer {key}"}
    while time.monotonic() < stop_at:
        killed = kill.is_set()
        started = time.perf_counter()
        try:
            async with session.post(url, json=body, headers=headers) as response:
                await response.read()
                ok = response.status == 200
                detail = f"HTTP {response.status}"
        except aiohttp.ClientError as exc:
            ok, detail = False, type(exc).__name__
        elapsed = time.perf_counter() - started
        result.requests += 1
        if killed:
            result.after.append(elapsed)
        elif started > warm_until:  # the first second warms caches and connection pools
            result.before.append(elapsed)
        if not ok:
            result.errors += 1
            result.error_samples.append(detail)


async def _watch_circuit(base: str, kill: asyncio.Event, killed_at: list[float], stop_at: float,
                         result: Result) -> None:
    headers = {"Authorization": f"Bearer {ADMIN_KEY}"}
    async with aiohttp.ClientSession() as session:
        await kill.wait()
        while time.monotonic() < stop_at:
            async with session.get(f"{base}/admin/v1/health", headers=headers) as response:
                state = (await response.json())["deployments"]["up-a/m"]["state"]
            if state != "closed":
                result.circuit_open_after_s = time.monotonic() - killed_at[0]
                return
            await asyncio.sleep(0.005)


async def run(seconds: float = 20.0, kill_at: float = 8.0, concurrency: int = 16,
              upstream_latency: float = 0.02) -> Result:
    children: list[subprocess.Popen[str]] = []
    result = Result()
    try:
        a, (port_a,) = _spawn("--upstream", str(upstream_latency))
        children.append(a)
        b, (port_b,) = _spawn("--upstream", str(upstream_latency))
        children.append(b)
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "farebox.yaml"
            config.write_text(CONFIG.format(db=Path(tmp) / "farebox.db", port_a=port_a, port_b=port_b))
            gateway, (port_g, key) = _spawn("--gateway", str(config))
            children.append(gateway)
            base = f"http://127.0.0.1:{port_g}"
            kill, killed_at = asyncio.Event(), [0.0]
            stop_at = time.monotonic() + seconds
            warm_until = time.perf_counter() + min(1.0, kill_at / 2)
            async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency)) as session:
                tasks = [asyncio.create_task(_worker(session, f"{base}/v1/chat/completions", key, stop_at, kill,
                                                     result, warm_until)) for _ in range(concurrency)]
                watch = asyncio.create_task(_watch_circuit(base, kill, killed_at, stop_at, result))
                await asyncio.sleep(kill_at)
                a.send_signal(signal.SIGKILL)
                killed_at[0] = time.monotonic()
                kill.set()
                await asyncio.gather(*tasks, watch)
                async with session.get(f"{base}/admin/v1/health",
                                       headers={"Authorization": f"Bearer {ADMIN_KEY}"}) as response:
                    result.health = await response.json()
            result.upstream_a_failures = int(result.health["deployments"]["up-a/m"]["failures"])
    finally:
        for child in children:
            if child.poll() is None:
                child.terminate()
        for child in children:
            try:
                child.wait(10)
            except subprocess.TimeoutExpired:
                child.kill()
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--kill-at", type=float, default=8.0)
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--upstream-latency", type=float, default=0.02)
    parser.add_argument("--upstream", type=float, help=argparse.SUPPRESS)  # child mode: latency
    parser.add_argument("--gateway", help=argparse.SUPPRESS)  # child mode: config path
    args = parser.parse_args()
    if args.upstream is not None:
        asyncio.run(serve_upstream(args.upstream))
    elif args.gateway:
        asyncio.run(serve_gateway(args.gateway))
    else:
        result = asyncio.run(run(args.seconds, args.kill_at, args.concurrency, args.upstream_latency))
        print(result.report())
        sys.exit(1 if result.errors else 0)


if __name__ == "__main__":
    main()
