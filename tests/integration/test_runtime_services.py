"""The runtime's services: the wallet is chosen like the rate limiters (memory, or Redis when
`redis:` is set), every service starts in order and stops in reverse whatever wallet it is,
and background tasks are kept alive until they finish."""

from __future__ import annotations

import asyncio
import gc
from pathlib import Path

import pytest

from farebox.billing.wallet.memory import MemoryWallet
from farebox.billing.wallet.redis import RedisWallet
from farebox.config import parse_config
from farebox.lifecycle import TaskSet
from farebox.runtime import build_runtime
from farebox.storage.db import migrate
from tests.support.redis_server import REDIS_SERVER, RedisServer

CONFIG = """
database: sqlite:///{db}
{redis}
providers: {{noop: {{kind: noop}}}}
models:
  noop-test: {{tier: starter, price: {{input: 0.1, output: 0.4}}, deployments: [{{provider: noop, model: noop-test}}]}}
tiers:
  starter: {{rank: 1, rpm: 60, burst_rpm: 120}}
"""


async def started_and_stopped(tmp_path: Path, redis_url: str | None) -> tuple[object, list[str]]:
    config = parse_config(CONFIG.format(db=tmp_path / "f.db", redis=f"redis: {redis_url}" if redis_url else ""),
                          "test config")
    migrate(config.database)
    rt = build_runtime(config)
    seen: list[str] = []
    for service in rt.services():  # record each start/stop, then do the real one
        name = type(service).__name__
        for verb in ("start", "stop"):
            real = getattr(service, verb)

            async def recorded(real=real, what=f"{verb} {name}") -> None:  # type: ignore[no-untyped-def]
                seen.append(what)
                await real()

            setattr(service, verb, recorded)
    await rt.start()
    await rt.stop()
    return rt.wallet, seen


async def test_memory_wallet_is_a_service(tmp_path: Path) -> None:
    wallet, seen = await started_and_stopped(tmp_path, None)
    assert isinstance(wallet, MemoryWallet)
    assert seen == ["start MemoryWallet", "start LedgerWriter", "start DirectoryRefresher", "start PriceRefresher",
                    "stop PriceRefresher", "stop DirectoryRefresher", "stop LedgerWriter", "stop MemoryWallet"]


@pytest.mark.redis
@pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")
async def test_redis_wallet_is_chosen_and_started(tmp_path: Path, redis_server: RedisServer) -> None:
    wallet, seen = await started_and_stopped(tmp_path, redis_server.url)
    assert isinstance(wallet, RedisWallet)
    assert seen[0] == "start RedisWallet" and seen[-1] == "stop RedisWallet"


async def test_task_set_keeps_tasks_alive_until_done() -> None:
    tasks = TaskSet()
    finished = asyncio.Event()

    async def later() -> None:
        await asyncio.sleep(0.01)
        finished.set()

    tasks.spawn(later())
    gc.collect()  # the loop holds tasks weakly: only the set keeps this one
    assert len(tasks) == 1
    await tasks.wait()
    assert finished.is_set() and len(tasks) == 0
