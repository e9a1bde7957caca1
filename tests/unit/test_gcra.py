"""GCRA maths on integer microseconds: boundaries, retry_after, remaining, reset_at, cost."""

from __future__ import annotations

import math
from fractions import Fraction

import pytest

from farebox.ratelimit.gcra import Limit, check, check_us, to_us
from tests.ratelimit_sim import START_US, TIERS

STARTER = Limit(60, 120)


def drain(limit: Limit, now: int, tat: int | None = None) -> tuple[int, int]:
    """Admit cost-1 requests at `now` until refused; return (admitted, TAT)."""
    admitted = 0
    while True:
        decision, new_tat = check_us(tat, now, limit)
        if new_tat is None:
            assert tat is not None
            return admitted, tat
        admitted, tat = admitted + 1, new_tat


@pytest.mark.parametrize(("name", "rate", "burst"), TIERS)
def test_limit_parameters_follow_the_definition(name: str, rate: int, burst: int) -> None:
    limit = Limit(rate, burst)
    assert limit.interval_us == 60_000_000 // rate
    extra = Fraction(burst - rate, 2)  # requests allowed on top of the rate in a 30 s burst
    assert limit.tolerance_us == extra * limit.interval_us
    assert limit.max_cost == extra + 1
    assert limit.per_minute == rate


@pytest.mark.parametrize(("rate", "burst", "window"), [(0, 10, 30), (-1, 10, 30), (10, 9, 30), (10, 20, -1)])
def test_limit_rejects_nonsense(rate: float, burst: float, window: float) -> None:
    with pytest.raises(ValueError):
        Limit(rate, burst, window)


def test_fresh_key_admits_one_bucket_at_once() -> None:
    admitted, tat = drain(STARTER, START_US)
    assert admitted == STARTER.max_cost == 31
    assert tat == START_US + 31 * STARTER.interval_us


def test_admission_is_exact_at_the_microsecond_boundary() -> None:
    _, tat = drain(STARTER, START_US)
    refused, _ = check_us(tat, START_US + STARTER.interval_us - 1, STARTER)
    admitted, new_tat = check_us(tat, START_US + STARTER.interval_us, STARTER)
    assert not refused.allowed
    assert refused.retry_after == 1e-6
    assert admitted.allowed and new_tat == tat + STARTER.interval_us
    assert admitted.remaining == 0


def test_retry_after_is_the_true_wait() -> None:
    _, tat = drain(STARTER, START_US)
    now = START_US + 123_457  # partway through an interval
    decision, unchanged = check_us(tat, now, STARTER)
    assert not decision.allowed and unchanged is None
    wait = to_us(decision.retry_after)
    assert wait == STARTER.interval_us - 123_457
    assert check_us(tat, now + wait, STARTER)[0].allowed
    assert not check_us(tat, now + wait - 1, STARTER)[0].allowed


def test_refused_decision_reports_full_bucket_time() -> None:
    _, tat = drain(STARTER, START_US)
    decision, _ = check_us(tat, START_US + 500_000, STARTER)
    assert not decision.allowed
    assert decision.remaining == 0
    assert decision.reset_at == tat / 1e6
    # At reset_at the bucket is full: the key behaves exactly like an unknown one.
    at_reset = to_us(decision.reset_at)
    assert check_us(tat, at_reset, STARTER) == check_us(None, at_reset, STARTER)
    assert check_us(tat, at_reset - 1, STARTER)[0].remaining < STARTER.max_cost - 1


def test_cost_advances_by_cost_intervals() -> None:
    d1, tat = check_us(None, START_US, STARTER, cost=10)
    assert d1.allowed and tat == START_US + 10 * STARTER.interval_us
    assert d1.remaining == STARTER.max_cost - 10
    d2, tat = check_us(tat, START_US, STARTER, cost=20)
    assert d2.allowed and d2.remaining == STARTER.max_cost - 30
    d3, unchanged = check_us(tat, START_US, STARTER, cost=10)
    assert not d3.allowed and unchanged is None
    assert d3.remaining == 1  # one cost-1 request would still pass
    assert to_us(d3.retry_after) == 9 * STARTER.interval_us  # 10 needed, 1 available
    assert check_us(tat, START_US + to_us(d3.retry_after), STARTER, cost=10)[0].allowed


def test_cost_above_the_bucket_can_never_pass() -> None:
    decision, tat = check_us(None, START_US, STARTER, cost=STARTER.max_cost + 1)
    assert not decision.allowed and tat is None
    assert decision.retry_after == math.inf
    assert check_us(None, START_US, STARTER, cost=STARTER.max_cost)[0].allowed


def test_tat_from_a_larger_limit_never_gives_negative_remaining() -> None:
    _, tat = drain(Limit(500, 1000), START_US)  # 30 s of elite tolerance, then downgraded
    decision, _ = check_us(tat + 10_000_000, START_US, STARTER)
    assert not decision.allowed and decision.remaining == 0


def test_no_burst_limit_admits_one_then_paces() -> None:
    limit = Limit(60, 60)
    assert drain(limit, START_US)[0] == 1


def test_pacing_at_an_inexact_rate_is_never_refused() -> None:
    # 7/min: T = 8.571428... s is not a whole number of microseconds, and there is no burst.
    limit = Limit(7, 7)
    tat = None
    for k in range(10_000):
        now = START_US + round(Fraction(k * 60 * 1_000_000, 7))
        decision, tat = check_us(tat, now, limit)
        assert decision.allowed, k
        assert not check_us(tat, now, limit)[0].allowed  # and no faster


def test_float_api_round_trips_exactly() -> None:
    now = START_US / 1e6
    tat: float | None = None
    for _ in range(STARTER.max_cost):
        decision, tat = check(tat, now, STARTER)
        assert decision.allowed
    assert tat == (START_US + 31 * STARTER.interval_us) / 1e6
    refused, unchanged = check(tat, now, STARTER)
    assert not refused.allowed and unchanged is None
    assert check(tat, now + refused.retry_after, STARTER)[0].allowed
    assert not check(tat, now + refused.retry_after - 1e-6, STARTER)[0].allowed
