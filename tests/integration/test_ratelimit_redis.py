"""RedisRateLimiter and RedisConcurrencyLimiter against a real redis-server on loopback:
the same exact counts as in memory, limits shared by several gateway processes, and the
failure policy when Redis dies and comes back."""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from farebox.ratelimit import Limit
from farebox.ratelimit.base import FailurePolicy
from farebox.ratelimit.redis import RedisConcurrencyLimiter, RedisRateLimiter
from tests.ratelimit_sim import TIERS, FakeClock, count_before, hammer, max_in_any_window
from tests.support.redis_server import REDIS_SERVER, RedisServer

pytestmark = [
    pytest.mark.redis,
    pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed"),
]

LOGGER = "farebox.ratelimit.redis"
SLOW = Limit(1, 61)  # T = 60 s, 31 at once: immune to the real clock moving during a test


def connect(redis_server: RedisServer) -> Redis:
    # The settings a gateway should use: fail fast, let the limiter's policy answer.
    return Redis(
        host="127.0.0.1", port=redis_server.port, retry=Retry(NoBackoff(), 1),
        socket_connect_timeout=0.5, socket_timeout=0.5,
    )  # fmt: skip



@pytest.fixture
async def client(redis_server: RedisServer) -> AsyncIterator[Redis]:
    client = connect(redis_server)
    yield client
    await client.aclose()


@pytest.mark.parametrize(("name", "rate", "burst"), TIERS)
async def test_hammering_admits_exactly_the_tier(client: Redis, name: str, rate: int, burst: int) -> None:
    clock = FakeClock()
    limiter, limit = RedisRateLimiter(client, clock=clock), Limit(rate, burst)
    # Attempts every half interval, each until refused (a round trip is costlier than in memory).
    step = limit.interval_us // 2
    times = await hammer(lambda: limiter.check("k", limit), clock, 5 * 60, lambda: step)
    assert count_before(times, 30) == burst // 2
    assert max_in_any_window(times, 30) == burst // 2
    for minutes in (3, 5):
        assert count_before(times, minutes * 60) == rate * minutes + (burst - rate) // 2


async def test_retry_after_and_cost_through_redis(client: Redis) -> None:
    clock = FakeClock()
    limiter, limit = RedisRateLimiter(client, clock=clock), Limit(200, 400)
    assert (await limiter.check("k", limit, cost=limit.max_cost)).allowed
    clock.advance(0.0123)
    for cost in (1, 5):
        refused = await limiter.check("k", limit, cost)
        assert not refused.allowed and refused.remaining == 0
        clock.advance(refused.retry_after - 1e-6)
        assert not (await limiter.check("k", limit, cost)).allowed
        clock.advance(1e-6)
        assert (await limiter.check("k", limit, cost)).allowed
    assert (await limiter.check("k", limit, cost=limit.max_cost + 1)).retry_after == math.inf


async def test_bucket_is_one_expiring_key_holding_the_tat(client: Redis) -> None:
    clock = FakeClock()
    limiter, limit = RedisRateLimiter(client, clock=clock, prefix="t:"), Limit(60, 120)
    decision = await limiter.check("k", limit, cost=3)
    assert await client.keys("*") == [b"t:k"]
    assert await client.get("t:k") == str(clock.us + 3 * limit.interval_us).encode()  # exact, no exponent
    assert decision.reset_at == (clock.us + 3 * limit.interval_us) / 1e6
    assert 0 < await client.pttl("t:k") <= 3000  # gone once the bucket is full again


async def test_server_time_is_used_by_default(client: Redis) -> None:
    limiter = RedisRateLimiter(client)
    decisions = await asyncio.gather(*(limiter.check("k", SLOW) for _ in range(40)))
    assert sum(d.allowed for d in decisions) == SLOW.max_cost
    refused = [d for d in decisions if not d.allowed]
    assert all(0 < d.retry_after <= 60 for d in refused)
    assert abs(refused[0].reset_at - (time.time() + SLOW.max_cost * 60)) < 5


async def test_two_gateways_share_one_limit(redis_server: RedisServer) -> None:
    clock = FakeClock()
    first, second = connect(redis_server), connect(redis_server)
    try:
        limiters = [RedisRateLimiter(first, clock=clock), RedisRateLimiter(second, clock=clock)]
        limit, turn = Limit(60, 120), iter(range(10**9))
        times = await hammer(lambda: limiters[next(turn) % 2].check("k", limit), clock, 180, lambda: 250_000)
        assert count_before(times, 30) == 60
        assert count_before(times, 180) == 60 * 3 + 30
        # And with Redis's own clock, concurrently from both:
        checks = [limiters[i % 2].check("s", SLOW) for i in range(80)]
        assert sum(d.allowed for d in await asyncio.gather(*checks)) == SLOW.max_cost
    finally:
        await first.aclose()
        await second.aclose()


@pytest.mark.parametrize("policy", ["open", "closed"])
async def test_outage_follows_policy_then_recovers(
    redis_server: RedisServer, client: Redis, policy: FailurePolicy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger=LOGGER)
    clock = FakeClock()
    limiter = RedisRateLimiter(client, on_failure=policy, clock=clock, retry_interval=0)
    while (await limiter.check("k", SLOW)).allowed:
        pass
    redis_server.kill()
    for _ in range(20):
        decision = await limiter.check("k", SLOW)
        if policy == "open":
            assert decision.allowed and decision.remaining == SLOW.per_minute
        else:
            assert not decision.allowed and decision.retry_after == 1.0 and decision.remaining == 0
    warnings = [r for r in caplog.records if r.name == LOGGER and r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "Redis unavailable" in warnings[0].getMessage()

    redis_server.start()  # same port, empty (no persistence), no script loaded
    admitted = 0
    while (await limiter.check("k", SLOW)).allowed:
        admitted += 1
    assert admitted == SLOW.max_cost  # enforced again, by the same limiter object
    assert any("Redis is back" in r.getMessage() for r in caplog.records if r.name == LOGGER)


async def test_no_redis_call_between_retries(redis_server: RedisServer, client: Redis) -> None:
    limiter = RedisRateLimiter(client, on_failure="closed", retry_interval=1.0)
    assert (await limiter.check("k", SLOW)).allowed
    redis_server.kill()
    assert not (await limiter.check("k", SLOW)).allowed  # fails, starts the retry pause
    redis_server.start()
    assert not (await limiter.check("k", SLOW)).allowed  # still paused: answered without Redis
    await asyncio.sleep(1.05)
    assert (await limiter.check("k", SLOW)).allowed


async def test_concurrency_is_shared_and_expires(redis_server: RedisServer, client: Redis) -> None:
    other = connect(redis_server)
    try:
        a = RedisConcurrencyLimiter(client, prefix="c:", ttl_s=120)
        b = RedisConcurrencyLimiter(other, prefix="c:", ttl_s=120)
        grants = [await (a if i % 2 else b).acquire("k", 3) for i in range(4)]
        assert grants == [True, True, True, False]
        assert await client.get("c:k") == b"3"
        assert 0 < await client.ttl("c:k") <= 120
        await a.release("k")
        assert await b.acquire("k", 3)
        for _ in range(3):
            await b.release("k")
        assert await client.exists("c:k") == 0  # no key once nothing is in flight
        await a.release("k")  # a release after expiry must not leave a negative count
        assert await client.exists("c:k") == 0
        assert await a.acquire("k", 1) and not await b.acquire("k", 1)
    finally:
        await other.aclose()


@pytest.mark.parametrize("policy", ["open", "closed"])
async def test_concurrency_outage(redis_server: RedisServer, client: Redis, policy: FailurePolicy) -> None:
    limiter = RedisConcurrencyLimiter(client, on_failure=policy, retry_interval=0)
    redis_server.kill()
    assert await limiter.acquire("k", 2) is (policy == "open")
    redis_server.start()
    assert [await limiter.acquire("k", 2) for _ in range(3)] == [True, True, False]
    if policy == "open":
        await limiter.release("k")  # gives back the slot granted while down: not Redis's count
        assert not await limiter.acquire("k", 2)
    await limiter.release("k")
    assert await limiter.acquire("k", 2)
