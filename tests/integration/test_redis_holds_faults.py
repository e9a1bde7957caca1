"""Credit holds by request id when Redis stalls, against a real redis-server frozen with SIGSTOP:
a script is never re-sent by the client, a RESERVE that runs after its caller gave up does
nothing (or is given back), a RELEASE run twice releases once, and no hold is left 5 s after
Redis resumes, whether it froze mid-reserve or mid-settle (wallet and gateway alike)."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import openai
import pytest
import redis
from redis.exceptions import TimeoutError as RedisTimeout

from farebox.billing.wallet import redis_scripts as lua
from farebox.billing.wallet.redis import RedisWallet
from farebox.errors import ServiceUnavailable
from farebox.storage.db import create_engine, migrate
from farebox.storage.redisconn import connect_redis
from farebox.storage.redispipe import script_pipe
from farebox.storage.repository import Repository
from tests.fakes.fake_openai import FakeOpenAI, Script
from tests.support.gateway import Gateway
from tests.support.redis_server import REDIS_SERVER, RedisServer

pytestmark = [pytest.mark.redis, pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")]

LEAK_BOUND = 5.0  # seconds after Redis resumes by which every hold must be back


@contextmanager
def frozen(server: RedisServer) -> Iterator[None]:
    """redis-server stopped (SIGSTOP): connections are accepted by the kernel and commands pile up
    in its buffers, to run when it resumes (SIGCONT), after the clients timed out."""
    process = server._process
    assert process is not None
    os.kill(process.pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(process.pid, signal.SIGCONT)


def held_in_redis(server: RedisServer, account_id: int) -> tuple[int, int]:
    """(the account's `held` sum, how many holds it has), read straight from Redis."""
    with redis.Redis(host="127.0.0.1", port=server.port) as client:
        return int(client.hget(lua.account_key(account_id), "held") or 0), int(client.hlen(lua.holds_key(account_id)))


def wait_released(server: RedisServer, account_id: int, since: float) -> None:
    while held_in_redis(server, account_id) != (0, 0) and time.monotonic() - since < LEAK_BOUND:
        time.sleep(0.05)
    assert held_in_redis(server, account_id) == (0, 0), "a hold leaked"
    time.sleep(0.3)  # and nothing late takes one again
    assert held_in_redis(server, account_id) == (0, 0), "a late script took a hold again"


def replay_reserve(server: RedisServer, account_id: int, hold_id: str, total: int, owner: str = "replayer") -> Any:
    """Run RESERVE as a late or re-sent copy of a wallet's call would: {status, balance, held}."""
    with redis.Redis(host="127.0.0.1", port=server.port) as client:
        keys = [lua.account_key(account_id), lua.holds_key(account_id), lua.owner_key(owner), lua.OWNERS,
                lua.fence_key(hold_id)]
        return client.register_script(lua.RESERVE)(keys=keys, args=[account_id, hold_id, total, owner, 60_000])


# -- the wallet ------------------------------------------------------------------------------


@pytest.fixture
async def repo(tmp_path: Path) -> AsyncIterator[Repository]:
    url = f"sqlite:///{tmp_path / 'wallet.db'}"
    await asyncio.to_thread(migrate, url)
    engine = create_engine(url)
    yield Repository(engine)
    await engine.dispose()


@pytest.fixture
async def wallet(redis_server: RedisServer, repo: Repository) -> AsyncIterator[RedisWallet]:
    made = RedisWallet(connect_redis(redis_server.url), repo, owner_ttl=0.4, retry_interval=0.1)
    await made.start()
    yield made
    await made.stop()
    await made.redis.aclose()


async def funded(repo: Repository, wallet: RedisWallet, nano: int) -> int:
    account_id = int((await repo.create_account(f"acct{time.monotonic_ns()}", "pro"))["id"])
    await repo.post_entry(account_id, "topup", nano)
    await wallet.reserve(account_id, 1, "load")  # the account is in Redis before anything freezes
    await wallet.release(account_id, "load")
    return account_id


async def test_replayed_reserve_holds_once_and_double_release_releases_once(
        redis_server: RedisServer, repo: Repository, wallet: RedisWallet) -> None:
    account_id = await funded(repo, wallet, 1000)
    await wallet.reserve(account_id, 300, "a")
    await wallet.reserve(account_id, 200, "b")
    await wallet.reserve(account_id, 100, "a")  # failover to a pricier model: "a" grows to 400
    status, _, held = replay_reserve(redis_server, account_id, "a", 400, wallet.owner)  # the same call, re-sent
    assert (status, held) == (1, 600)
    await wallet.release(account_id, "a")
    await wallet.release(account_id, "a")  # every exit of settle may release: harmless
    assert await wallet.snapshot(account_id) == (1000, 200)  # "b" still holds its 200
    assert held_in_redis(redis_server, account_id) == (200, 1)


async def test_redis_frozen_mid_reserve_leaks_nothing(redis_server: RedisServer, repo: Repository,
                                                      wallet: RedisWallet) -> None:
    account_id = await funded(repo, wallet, 1000)
    with frozen(redis_server):
        with pytest.raises(ServiceUnavailable):  # timed out here; the RESERVE waits in Redis's buffers
            await wallet.reserve(account_id, 600, "late")
        await asyncio.sleep(0.6)  # heartbeats fail meanwhile
    resumed = time.monotonic()
    await asyncio.to_thread(wait_released, redis_server, account_id, resumed)
    status, _, held = replay_reserve(redis_server, account_id, "late", 600)  # later still: fenced
    assert (status, held) == (-2, 0)
    assert await wallet.snapshot(account_id) == (1000, 0)
    await wallet.reserve(account_id, 1000, "next")  # the whole balance is free again


async def test_redis_frozen_mid_settle_leaks_nothing(redis_server: RedisServer, repo: Repository,
                                                     wallet: RedisWallet) -> None:
    # Settlement grows the hold to the exact cost, then releases it: both meet a frozen Redis.
    account_id = await funded(repo, wallet, 1000)
    await wallet.reserve(account_id, 300, "settling")
    await wallet.reserve(account_id, 100, "other")
    with frozen(redis_server):
        with pytest.raises(ServiceUnavailable):
            await wallet.reserve(account_id, 200, "settling")
        await wallet.release(account_id, "settling")  # queued: Redis is down
        await asyncio.sleep(0.6)
    await wallet.release(account_id, "other")
    resumed = time.monotonic()
    await asyncio.to_thread(wait_released, redis_server, account_id, resumed)
    assert replay_reserve(redis_server, account_id, "settling", 500)[0] == -2  # the late grow does nothing


async def test_a_timed_out_script_runs_once(redis_server: RedisServer) -> None:
    # redis-py would re-send a command whose reply timed out: with the gateway's client, never.
    client = connect_redis(redis_server.url)
    try:
        count, pipe = client.register_script("return redis.call('INCR', KEYS[1])"), script_pipe(client)
        assert await pipe.call(count, ["n"], []) == 1
        with frozen(redis_server), pytest.raises(RedisTimeout):
            await pipe.call(count, ["n"], [])
        deadline = time.monotonic() + LEAK_BOUND
        while await client.get("n") == b"1" and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.2)
        assert await client.get("n") == b"2"  # ran once, late; not twice
    finally:
        await client.aclose()


async def test_heartbeat_gives_back_holds_not_in_flight(redis_server: RedisServer, repo: Repository,
                                                        wallet: RedisWallet) -> None:
    account_id = await funded(repo, wallet, 1000)
    await wallet.reserve(account_id, 100, "live")
    # A hold of this process's that no request of it has in flight (say, a RESERVE that ran
    # after everything about it here was over and forgotten).
    assert replay_reserve(redis_server, account_id, "stray", 700, wallet.owner)[0] == 1
    deadline = time.monotonic() + LEAK_BOUND
    while held_in_redis(redis_server, account_id) != (100, 1) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert held_in_redis(redis_server, account_id) == (100, 1)  # "live" stays
    await wallet.release(account_id, "live")
    assert held_in_redis(redis_server, account_id) == (0, 0)


# -- a gateway ------------------------------------------------------------------------------

GATEWAY = """
redis: {redis}
holds: {{owner_ttl: 1.0}}
log_requests: false
providers:
  up: {{kind: openai, base_url: "{upstream}"}}
models:
  m:
    tier: pro
    max_output: 10
    price: {{input: 1000, output: 1000}}
    deployments: [{{provider: up, model: m-upstream}}]
"""


@pytest.fixture
def gateway(tmp_path: Path, redis_server: RedisServer, fake_openai: FakeOpenAI) -> Iterator[Gateway]:
    gw = Gateway(GATEWAY.format(redis=redis_server.url, upstream=fake_openai.base_url), tmp_path).start()
    yield gw
    gw.stop()


def ask(gw: Gateway, key: str, results: list[Any]) -> None:
    try:
        results.append(gw.client(key, timeout=30).chat.completions.create(
            model="m", messages=[{"role": "user", "content": "hi"}], max_tokens=10))
    except openai.APIStatusError as exc:
        results.append(exc.status_code)


def warm_pool(gw: Gateway) -> None:
    """Open several connections to Redis, so that a call made while Redis is frozen goes out on
    an established one (a new connection would stall in its handshake and never send it)."""
    client = gw.runtime.redis
    assert client is not None

    async def pings() -> None:
        await asyncio.gather(*(client.ping() for _ in range(8)))

    gw.run(pings())


def account_id(gw: Gateway, name: str) -> int:
    return int(gw.run(gw.runtime.operator.account(name))["id"])


def test_gateway_request_during_a_freeze_leaks_no_hold(gateway: Gateway, redis_server: RedisServer) -> None:
    key = gateway.account("frozen-reserve")
    results: list[Any] = []
    warm_pool(gateway)
    with frozen(redis_server):
        ask(gateway, key, results)  # no hold can be taken: 503
        time.sleep(0.5)
    assert results == [503]
    wait_released(redis_server, account_id(gateway, "frozen-reserve"), time.monotonic())


def test_gateway_settle_during_a_freeze_leaks_no_hold(gateway: Gateway, redis_server: RedisServer,
                                                      fake_openai: FakeOpenAI) -> None:
    # The upstream bills far more prompt than estimated, so settlement grows the hold, just as
    # Redis freezes: the grow times out; the request's exit releases; all of it comes back.
    fake_openai.default = Script(prompt_tokens=500, completion_tokens=10, latency=0.8)
    key = gateway.account("frozen-settle")
    warm_pool(gateway)
    results: list[Any] = []
    client = threading.Thread(target=ask, args=(gateway, key, results))
    client.start()
    deadline = time.monotonic() + 10
    while not fake_openai.requests and time.monotonic() < deadline:  # held, and upstream
        time.sleep(0.01)
    with frozen(redis_server):
        client.join(30)
        time.sleep(0.5)
    assert len(results) == 1  # answered (503 today: the hold could not grow to the cost)
    wait_released(redis_server, account_id(gateway, "frozen-settle"), time.monotonic())
