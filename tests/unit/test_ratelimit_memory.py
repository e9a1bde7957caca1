"""MemoryRateLimiter on a fake clock: the llmdeal tiers' exact admission counts, pacing,
retry_after, remaining/reset_at, cost, pruning; and MemoryConcurrencyLimiter."""

from __future__ import annotations

import random

import pytest

from farebox.ratelimit import Limit, MemoryConcurrencyLimiter, MemoryRateLimiter
from tests.ratelimit_sim import TIERS, FakeClock, count_before, hammer, max_in_any_window


@pytest.mark.parametrize(("name", "rate", "burst"), TIERS)
async def test_hammering_admits_exactly_the_tier(name: str, rate: int, burst: int) -> None:
    clock = FakeClock()
    limiter, limit = MemoryRateLimiter(clock), Limit(rate, burst)
    # Attempts every 20 ms (a divisor of every tier's interval), each until refused.
    times = await hammer(lambda: limiter.check("k", limit), clock, 5 * 60, lambda: 20_000)
    assert count_before(times, 30) == burst // 2
    assert max_in_any_window(times, 30) == burst // 2
    for minutes in (3, 5):
        assert count_before(times, minutes * 60) == rate * minutes + (burst - rate) // 2


@pytest.mark.parametrize(("name", "rate", "burst"), TIERS)
async def test_irregular_hammering_never_exceeds_the_tier(name: str, rate: int, burst: int) -> None:
    clock, rng = FakeClock(), random.Random(rate)
    limiter, limit = MemoryRateLimiter(clock), Limit(rate, burst)
    times = await hammer(lambda: limiter.check("k", limit), clock, 5 * 60, lambda: rng.randint(1, 25_000))
    assert max_in_any_window(times, 30) <= burst // 2
    expected = rate * 5 + (burst - rate) // 2
    # A late attempt delays one admission, never the ones after it (the TAT keeps pace).
    assert expected - 1 <= count_before(times, 5 * 60) <= expected


async def test_fractional_burst_allowance() -> None:
    clock = FakeClock()
    limiter, limit = MemoryRateLimiter(clock), Limit(7, 10)  # 1.5 extra requests
    times = await hammer(lambda: limiter.check("k", limit), clock, 120, lambda: 1_000)
    assert count_before(times, 30) == 5  # 10/min for 30 s
    assert max_in_any_window(times, 30) == 5


@pytest.mark.parametrize(("name", "rate", "burst"), TIERS)
async def test_pacing_at_the_sustained_rate_is_never_refused(name: str, rate: int, burst: int) -> None:
    clock = FakeClock()
    limiter, limit = MemoryRateLimiter(clock), Limit(rate, burst)
    while (decision := await limiter.check("k", limit)).allowed:  # spend the whole burst first
        pass
    clock.advance(decision.retry_after)
    for i in range(rate * 5):
        assert (await limiter.check("k", limit)).allowed, i
        clock.advance(60 / rate)


async def test_sleeping_retry_after_is_exactly_enough() -> None:
    clock = FakeClock()
    limiter, limit = MemoryRateLimiter(clock), Limit(200, 400)
    while (await limiter.check("k", limit)).allowed:
        pass
    clock.advance(0.0123)  # land mid-interval
    for cost in (1, 3, 1, 7):
        refused = await limiter.check("k", limit, cost)
        assert not refused.allowed and refused.retry_after > 0
        clock.advance(refused.retry_after - 1e-6)
        assert not (await limiter.check("k", limit, cost)).allowed  # a hair less: refused
        clock.advance(1e-6)
        admitted = await limiter.check("k", limit, cost)
        assert admitted.allowed and admitted.retry_after == 0.0


async def test_remaining_and_reset_at_are_consistent() -> None:
    clock = FakeClock()
    limiter, limit = MemoryRateLimiter(clock), Limit(60, 120)
    first = await limiter.check("k", limit, cost=4)
    assert first.remaining == limit.max_cost - 4
    for expected in range(first.remaining - 1, -1, -1):  # exactly `remaining` more pass now
        decision = await limiter.check("k", limit)
        assert decision.allowed and decision.remaining == expected
    refused = await limiter.check("k", limit)
    assert not refused.allowed and refused.remaining == 0
    # reset_at: the bucket is full again, as for a key never seen.
    clock.advance(refused.reset_at - clock())
    assert await limiter.check("k", limit) == await limiter.check("fresh", limit)


async def test_keys_are_independent() -> None:
    clock = FakeClock()
    limiter, limit = MemoryRateLimiter(clock), Limit(60, 60)
    assert (await limiter.check("a", limit)).allowed
    assert not (await limiter.check("a", limit)).allowed
    assert (await limiter.check("b", limit)).allowed


async def test_full_buckets_are_pruned_and_live_ones_kept() -> None:
    clock = FakeClock()
    limiter, limit = MemoryRateLimiter(clock), Limit(60, 60)
    for i in range(3000):
        await limiter.check(f"old{i}", limit)
    clock.advance(61)  # every old bucket is full again
    assert (await limiter.check("live", limit)).allowed
    for i in range(5000):
        await limiter.check(f"new{i}", limit)
    assert len(limiter) == 5001  # every full bucket went (swept as the dict doubled)
    assert not (await limiter.check("live", limit)).allowed  # a live bucket survives sweeps


async def test_concurrency_limiter_counts_in_flight() -> None:
    limiter = MemoryConcurrencyLimiter()
    assert [await limiter.acquire("k", 2) for _ in range(3)] == [True, True, False]
    assert await limiter.acquire("other", 2)
    await limiter.release("k")
    assert limiter.in_flight("k") == 1
    assert await limiter.acquire("k", 2)
    await limiter.release("k")
    await limiter.release("k")
    assert limiter.in_flight("k") == 0
    await limiter.release("k")  # an extra release does not go negative
    assert limiter.in_flight("k") == 0
    assert not await limiter.acquire("k", 0)
