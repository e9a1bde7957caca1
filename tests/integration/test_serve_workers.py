"""`farebox serve --workers N` as an operator runs it: it needs Redis; SIGTERM stops every
worker; a worker that dies takes the set down with a non-zero exit, for the supervisor."""

from __future__ import annotations

import os
import signal
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.redis_server import REDIS_SERVER, RedisServer
from tests.support.processes import GatewayProcess, cli

pytestmark = [pytest.mark.slow, pytest.mark.redis,
              pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")]

CONFIG = """
database: sqlite:///{db}
redis: {redis}
tiers: {{free: {{rank: 1, rpm: 60}}}}
providers: {{fake: {{kind: noop}}}}
models: {{}}
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


def test_a_dead_worker_stops_the_set(config: Path, tmp_path: Path) -> None:
    gateway = GatewayProcess(config, tmp_path / "gw.log", "--workers", "2").wait_ready()
    first, second = wait_children(gateway.process.pid, 2)
    os.kill(first, signal.SIGKILL)
    assert gateway.process.wait(30) == 1
    assert f"worker {first} exited" in (tmp_path / "gw.log").read_text().replace("\n", " ")
    assert gone(second)
