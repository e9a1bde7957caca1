"""`farebox serve --workers N` as an operator runs it: it needs Redis; SIGTERM stops every
worker after draining (streams within `listen.shutdown_grace_s` finish, the rest are billed as
abandoned); a worker that dies is restarted alone while the others keep serving."""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.fakes.fake_openai import FakeOpenAI, Script
from tests.integration.test_crash import seed
from tests.support.processes import GatewayProcess, cli
from tests.support.redis_server import REDIS_SERVER, RedisServer
from tests.support.stopping import StreamClient, charges, serving_process
from tests.support.waiting import wait_for

pytestmark = [pytest.mark.slow, pytest.mark.redis,
              pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")]

CONFIG = """
database: sqlite:///{db}
redis: {redis}
tiers: {{free: {{rank: 1, rpm: 60}}}}
providers: {{fake: {{kind: noop}}}}
models: {{}}
"""
OUT_NANO = 1_000_000  # output at 1000 USD / 1M tokens, input free
UPSTREAM_CONFIG = """
database: {database}
redis: {redis}
listen: {{shutdown_grace_s: {grace}}}
tiers: {{pro: {{rank: 1, rpm: 60000, burst_rpm: 120000}}}}
providers: {{up: {{kind: openai, base_url: "{upstream}"}}}}
models:
  m:
    tier: pro
    max_output: 1000
    price: {{input: 0, output: 1000}}
    deployments: [{{provider: up, model: m-upstream}}]
"""


@pytest.fixture
def config(tmp_path: Path) -> Iterator[Path]:
    with RedisServer(tmp_path) as redis_server:
        path = tmp_path / "farebox.yaml"
        path.write_text(CONFIG.format(db=tmp_path / "farebox.db", redis=redis_server.url))
        yield path


def children(pid: int) -> list[int]:
    """The worker processes (not multiprocessing's resource tracker)."""
    text = Path(f"/proc/{pid}/task/{pid}/children").read_text()
    return [int(p) for p in text.split() if b"spawn_main" in Path(f"/proc/{p}/cmdline").read_bytes()]


def gone(pid: int) -> bool:
    deadline = time.monotonic() + 10
    while Path(f"/proc/{pid}").exists() and "zombie" not in Path(f"/proc/{pid}/status").read_text():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def wait_children(pid: int, n: int) -> list[int]:
    deadline = time.monotonic() + 20
    while len(found := children(pid)) < n:
        assert time.monotonic() < deadline
        time.sleep(0.05)
    return found


def test_workers_need_redis(tmp_path: Path) -> None:
    path = tmp_path / "farebox.yaml"
    path.write_text(CONFIG.replace("redis: {redis}\n", "").format(db=tmp_path / "farebox.db"))
    result = cli("serve", "--config", str(path), "--workers", "2", "--no-demo")
    assert result.returncode == 2 and "needs `redis:`" in result.stderr.replace("\n", " ")


def test_sigterm_stops_every_worker(config: Path, tmp_path: Path) -> None:
    gateway = GatewayProcess(config, tmp_path / "gw.log", "--workers", "2").wait_ready()
    workers = wait_children(gateway.process.pid, 2)
    with urllib.request.urlopen(f"http://127.0.0.1:{gateway.port}/health", timeout=5) as resp:
        assert resp.status == 200
    gateway.process.send_signal(signal.SIGTERM)
    assert gateway.process.wait(30) == 0
    assert all(gone(pid) for pid in workers)


def test_workers_stop_when_the_supervisor_is_killed(config: Path, tmp_path: Path) -> None:
    gateway = GatewayProcess(config, tmp_path / "gw.log", "--workers", "2").wait_ready()
    workers = wait_children(gateway.process.pid, 2)
    gateway.kill()  # SIGKILL: no forwarding; the workers notice on their own
    assert all(gone(pid) for pid in workers)


def serving(gateway: GatewayProcess, timeout: float = 60) -> GatewayProcess:
    """Wait for the "serving on" line: every worker listens."""
    wait_for(lambda: "serving on" in gateway.log.read_text(), timeout, "serving on")
    return gateway


def database(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'farebox.db'}"


Start = Callable[[float, int, int], tuple[GatewayProcess, str]]


@pytest.fixture
def paid_gateway(tmp_path: Path, fake_openai: FakeOpenAI) -> Iterator[Start]:
    """Starts `serve --workers N` with the given shutdown grace, over a fake upstream that streams
    `words` words 0.1 s apart, with a funded key; stopped at the end."""
    with RedisServer(tmp_path) as redis_server:
        started: list[GatewayProcess] = []

        def start(grace: float, words: int, workers: int) -> tuple[GatewayProcess, str]:
            fake_openai.default = Script(text=" ".join(["hello"] * words), chunk_delay=0.1, completion_tokens=words)
            path = tmp_path / "farebox.yaml"
            path.write_text(UPSTREAM_CONFIG.format(database=database(tmp_path), redis=redis_server.url, grace=grace,
                                                   upstream=fake_openai.base_url))
            key = seed(path)
            started.append(serving(GatewayProcess(path, tmp_path / "gw.log", "--workers", str(workers))))
            return started[-1], key

        yield start
        for gateway in started:
            gateway.stop()


def streams_in_flight(gateway: GatewayProcess, key: str, n: int) -> list[StreamClient]:
    clients = [StreamClient(gateway.base_url, key) for _ in range(n)]
    for client in clients:
        client.start()
    for client in clients:
        assert client.started.wait(30) and client.error is None, client.error
    return clients


def test_sigterm_lets_streams_within_the_grace_finish_billed(
        paid_gateway: Start, tmp_path: Path) -> None:
    gateway, key = paid_gateway(30, 30, 2)
    clients = streams_in_flight(gateway, key, 4)
    gateway.process.send_signal(signal.SIGTERM)
    assert gateway.process.wait(30) == 0
    rows = charges(database(tmp_path))
    for client in clients:
        client.join(10)
        assert client.completed and client.words == 30, client.error
        assert rows[client.request_id or ""]["outcome"] == "ok"


@pytest.mark.parametrize("workers", [1, 2])
def test_sigterm_bills_every_stream_cut_after_the_grace(
        paid_gateway: Start, tmp_path: Path, workers: int) -> None:
    gateway, key = paid_gateway(2, 300, workers)
    clients = streams_in_flight(gateway, key, 4)
    started = time.monotonic()
    gateway.process.send_signal(signal.SIGTERM)
    assert gateway.process.wait(30) == 0
    assert 2 <= time.monotonic() - started < 2 + 10  # the grace, never a SIGKILL within it
    assert "killing it" not in gateway.log.read_text()
    rows = charges(database(tmp_path))
    for client in clients:
        client.join(10)
        assert not client.completed and client.words > 0
        row = rows[client.request_id or ""]
        assert row["outcome"] == "abandoned"
        assert -row["amount_nano"] >= client.words * OUT_NANO  # billed for at least what was delivered


def test_a_killed_worker_is_restarted_and_the_other_keeps_serving(
        paid_gateway: Start, tmp_path: Path) -> None:
    gateway, key = paid_gateway(30, 150, 2)
    workers = wait_children(gateway.process.pid, 2)
    by_worker: dict[int, list[StreamClient]] = {pid: [] for pid in workers}
    while not all(by_worker.values()):  # a stream on each worker (SO_REUSEPORT spreads connections)
        assert sum(map(len, by_worker.values())) < 20
        client = streams_in_flight(gateway, key, 1)[0]
        assert client.client_port is not None
        by_worker[serving_process(workers, gateway.port, client.client_port) or 0].append(client)
    victim, survivor = workers
    os.kill(victim, signal.SIGKILL)
    for client in by_worker[survivor]:
        client.join(30)
        assert client.completed and client.words == 150, client.error
    for client in by_worker[victim]:
        client.join(30)
        assert not client.completed
    assert gateway.process.poll() is None  # the supervisor goes on
    replaced = wait_children(gateway.process.pid, 2)
    assert survivor in replaced and victim not in replaced
    assert f"worker {victim} exited with code -9; restarting" in gateway.log.read_text()
    wait_for(lambda: "started" in gateway.log.read_text(), 30, "the new worker")
    rows = charges(database(tmp_path))
    assert all(rows[c.request_id or ""]["outcome"] == "ok" for c in by_worker[survivor])
    gateway.process.send_signal(signal.SIGTERM)
    assert gateway.process.wait(30) == 0
