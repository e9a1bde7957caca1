"""A crowd of slow clients: 200 connections that say nothing and 50 that dribble their headers
(slowloris), against a real `farebox serve` process and against the in-process gateway. A
normal customer keeps getting 200s throughout; the process stays alive with its memory bounded;
and the crowd is cut off at the header timeout."""

from __future__ import annotations

import json
import socket
import time
from contextlib import ExitStack, suppress
from pathlib import Path

import pytest

from tests.hostile.conftest import CLIENT_TIMEOUT
from tests.support.gateway import Gateway
from tests.support.keepalive import KeepAlive
from tests.support.processes import GatewayProcess, cli

IDLE, SLOWLORIS = 200, 50
MAX_RSS_MB = 300
CONFIG = """
database: sqlite:///{db}
server: {{header_timeout: 3, keepalive_timeout: 3}}
tiers: {{free: {{rank: 1, rpm: 6000, burst_rpm: 12000}}}}
providers: {{noop: {{kind: noop}}}}
models:
  echo:
    tier: free
    context: 8192
    max_output: 256
    price: {{input: 1.0, output: 2.0}}
    deployments: [{{provider: noop, model: noop-test}}]
"""
BODY = {"model": "echo", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}


class Crowd:
    """The idle and the dribbling connections; `dribble()` sends each slowloris one more header."""

    def __init__(self, stack: ExitStack, port: int) -> None:
        self.idle = [stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
                     for _ in range(IDLE)]
        self.slow = [stack.enter_context(socket.create_connection(("127.0.0.1", port), timeout=5))
                     for _ in range(SLOWLORIS)]
        for sock in self.slow:
            sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: gateway\r\n")

    def dribble(self) -> None:
        """One more header line on each slow connection (never the blank line that ends them)."""
        for sock in self.slow:
            with suppress(OSError):
                sock.sendall(b"X-Slow: 1\r\n")

    def closed(self) -> tuple[int, int]:
        """How many idle and slow connections the server has closed."""
        return sum(map(is_closed, self.idle)), sum(map(is_closed, self.slow))


def is_closed(sock: socket.socket) -> bool:
    sock.setblocking(False)
    try:
        return sock.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


def serve_through_crowd(base_url: str, key: str, port: int, seconds: float,
                        model: str = "echo") -> tuple[list[float], Crowd, ExitStack]:
    """A customer's request every ~0.1 s while the crowd holds its connections: the latencies."""
    stack = ExitStack()
    crowd = Crowd(stack, port)
    client = KeepAlive(base_url, key, timeout=10)
    latencies = []
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        crowd.dribble()
        started = time.monotonic()
        reply = client.request("POST", "/chat/completions", json_body={**BODY, "model": model})
        assert reply.status_code == 200, reply.text
        latencies.append(time.monotonic() - started)
        time.sleep(0.1)
    return latencies, crowd, stack


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


@pytest.mark.slow
def test_a_real_process_serves_through_a_slow_crowd(tmp_path: Path) -> None:
    config = tmp_path / "farebox.yaml"
    config.write_text(CONFIG.format(db=tmp_path / "farebox.db"))
    assert cli("accounts", "create", "acme", "--tier", "free", "--config", str(config)).returncode == 0
    assert cli("credits", "add", "acme", "50", "--config", str(config)).returncode == 0
    key = json.loads(cli("keys", "create", "acme", "--json", "--config", str(config)).stdout)["key"]
    gateway = GatewayProcess(config, tmp_path / "gateway.log").wait_ready()
    try:
        before = rss_mb(gateway.process.pid)
        latencies, crowd, stack = serve_through_crowd(gateway.base_url, key, gateway.port, seconds=5)
        during = rss_mb(gateway.process.pid)
        with stack:
            assert crowd.closed() == (IDLE, SLOWLORIS)  # cut off at the 3 s header timeout
        assert len(latencies) >= 10 and max(latencies) < 2, latencies
        assert gateway.process.poll() is None, gateway.log.read_text()[-2000:]
        assert during < MAX_RSS_MB, (before, during)
        assert KeepAlive(gateway.base_url, key).request("POST", "/chat/completions", json_body=BODY).status_code == 200
        print(f"RSS {before:.0f} MB before, {during:.0f} MB with {IDLE + SLOWLORIS} slow connections; "
              f"customer latency max {max(latencies) * 1000:.0f} ms over {len(latencies)} requests")
    finally:
        gateway.stop()


def test_the_runner_cuts_the_crowd_off_at_the_header_timeout(gateway: Gateway, key: str) -> None:
    port = int(gateway.server.url.rsplit(":", 1)[1])
    latencies, crowd, stack = serve_through_crowd(gateway.base_url, key, port, seconds=CLIENT_TIMEOUT + 2,
                                                 model="coder")
    with stack:
        assert max(latencies) < 2, latencies
        assert crowd.closed() == (IDLE, SLOWLORIS)  # all cut off: their headers never finished
