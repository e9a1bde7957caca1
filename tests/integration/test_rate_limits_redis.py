"""Limits shared through a real redis-server: two `farebox serve` processes on one Redis and one
SQLite file admit what one limit allows, and a gateway fails open or closed while Redis is
down (logged once) and recovers when it is back, without a restart."""

from __future__ import annotations

import asyncio
import logging
import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import redis

from farebox.config import parse_config
from farebox.services.operator import Operator
from farebox.storage.db import create_engine, migrate
from farebox.storage.repository import Repository
from tests.support import http
from tests.support.gateway import Gateway
from tests.support.keepalive import KeepAlive
from tests.support.redis_server import REDIS_SERVER, RedisServer, free_port
from tests.support.waiting import wait_for

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed"),
]
SRC = Path(__file__).resolve().parents[2] / "src"
HELLO = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
CONFIG = """
database: sqlite:///{db}
redis: {redis}
rate_limits: {{on_redis_failure: {policy}}}
holds: {{on_redis_failure: {policy}}}  # the wallet follows the same policy in these tests
log_requests: false
tiers:
  starter: {{rank: 1, rpm: {rpm}, burst_rpm: {burst}}}
providers:
  n: {{kind: noop}}
models:
  chat: {{tier: starter, price: {{input: 0.1, output: 0.4}}, provider: n}}
"""



def make_key(config_text: str, account: str) -> str:
    config = parse_config(config_text, "test")
    migrate(config.database)

    async def setup() -> str:
        engine = create_engine(config.database)
        try:
            op = Operator(Repository(engine), config)
            await op.create_account(account, "starter")
            await op.post_credit(account, "10")
            return str((await op.create_key(account))["key"])
        finally:
            await engine.dispose()

    return asyncio.run(setup())


def serve(config_path: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = dict(os.environ, PYTHONPATH=f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    with log.open("wb") as out:
        return subprocess.Popen([sys.executable, "-m", "farebox", "serve", "-c", str(config_path),
                                 "--port", str(port), "--no-demo"], stdout=out, stderr=subprocess.STDOUT, env=env)




def healthy(port: int) -> bool:
    try:
        return http.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200
    except OSError:
        return False


@pytest.mark.slow
def test_two_processes_share_one_limit(tmp_path: Path, redis_server: RedisServer) -> None:
    # 1/min sustained, 61/min for 30 s: 31 at once, then one a minute (longer than this test).
    text = CONFIG.format(db=tmp_path / "farebox.db", redis=redis_server.url, policy="closed", rpm=1, burst=61)
    key = make_key(text, "shared")
    config_path = tmp_path / "farebox.yaml"
    config_path.write_text(text)
    ports = [free_port(), free_port()]
    procs = [serve(config_path, port, tmp_path / f"gw{i}.log") for i, port in enumerate(ports)]
    try:
        for port in ports:
            wait_for(lambda port=port: healthy(port), what=f"gateway on {port}")  # type: ignore[misc]

        def hammer(port: int) -> list[int]:
            conn = KeepAlive(f"http://127.0.0.1:{port}/v1", key)
            statuses = [conn.post("/chat/completions", HELLO).status_code for _ in range(40)]
            conn.close()
            return statuses

        with ThreadPoolExecutor(2) as pool:
            per_process = list(pool.map(hammer, ports))
        assert all(set(statuses) == {200, 429} for statuses in per_process), per_process
        assert sum(statuses.count(200) for statuses in per_process) == 31  # one limit, not two
        bucket = redis.Redis(port=redis_server.port).get("farebox:rl:k1")
        assert bucket is not None  # the state lives in Redis, not in either process
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(15)


def limiter_warnings(caplog: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "farebox.ratelimit.redis"]


@pytest.mark.parametrize("policy", ["open", "closed"])
def test_redis_outage_policy_and_recovery(tmp_path: Path, redis_server: RedisServer, policy: str,
                                          caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="farebox.ratelimit.redis")
    text = CONFIG.format(db=tmp_path / "farebox.db", redis=redis_server.url, policy=policy, rpm=6000, burst=12000)
    gateway = Gateway(text, tmp_path).start()
    try:
        conn = KeepAlive(gateway.base_url, gateway.account("alice", "starter"))
        assert conn.post("/chat/completions", HELLO).status_code == 200
        redis_server.kill()
        replies = [conn.post("/chat/completions", HELLO) for _ in range(5)]
        for reply in replies:
            assert "x-ratelimit-limit" in reply.headers
            if policy == "open":
                assert reply.status_code == 200
            else:
                assert reply.status_code == 429 and reply.headers["retry-after"] == "1"
        warnings = limiter_warnings(caplog)
        assert len(warnings) == 1 and f"failing {policy}" in warnings[0].getMessage()  # once per outage

        redis_server.start()  # same port: the gateway's client reconnects by itself
        probe = redis.Redis(port=redis_server.port)
        assert probe.get("farebox:rl:k1") is None  # a fresh server (no persistence)
        wait_for(lambda: conn.post("/chat/completions", HELLO).status_code == 200 and
                 probe.get("farebox:rl:k1") is not None, what="recovery through Redis")
        assert any("Redis is back" in r.getMessage() for r in caplog.records)
        assert len(limiter_warnings(caplog)) == 1
    finally:
        gateway.stop()
