"""GCRA (generic cell rate algorithm) maths: one timestamp per key, no I/O.

A key's state is its TAT, the "theoretical arrival time": the instant at which its bucket is
full again. A request of cost n is admitted when, after pushing the TAT n emission intervals
further, the TAT lies at most `tau + T` ahead of now (tau = burst tolerance, T = emission
interval). A TAT in the past means the bucket is full, exactly as if the key were unknown.

All arithmetic is in integer microseconds so admissions are exact at boundaries (no float
drift), and so the Redis Lua script (doubles, exact below 2**53) computes the same thing.
Microseconds also match a float Unix clock, whose resolution near 1.7e9 s is ~0.24 us.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from fractions import Fraction

import msgspec

US = 1_000_000  # microseconds per second


def to_us(seconds: float) -> int:
    """Seconds (a float Unix time) to integer microseconds; rounds so t_us / 1e6 round-trips."""
    return round(seconds * US)


@dataclass(frozen=True, slots=True)
class Limit:
    """A sustained rate, plus a higher rate allowed for `burst_window_s`.

    A fresh key can make burst_per_min * burst_window_s / 60 requests in any first
    `burst_window_s`, and rate * M + (burst - rate) * burst_window_s / 60 in M minutes.
    Build one per tier, not per request: the constructor does exact fraction maths.
    """

    rate_per_min: float
    burst_per_min: float
    burst_window_s: float = 30.0
    interval_us: int = field(init=False)  # T, the emission interval
    tolerance_us: int = field(init=False)  # tau, the burst tolerance
    capacity_us: int = field(init=False)  # tau + T: how far ahead of now the TAT may run
    per_minute: int = field(init=False)  # the sustained rate as reported (x-ratelimit-limit)

    def __post_init__(self) -> None:
        if not self.rate_per_min > 0:
            raise ValueError("rate_per_min must be positive")
        if self.burst_per_min < self.rate_per_min:
            raise ValueError("burst_per_min must be at least rate_per_min")
        if self.burst_window_s < 0:
            raise ValueError("burst_window_s must not be negative")
        # Floor T: a fraction of a microsecond too short per request, never too long, so a
        # client pacing exactly at the sustained rate is never refused.
        interval = max(1, math.floor(Fraction(60 * US) / Fraction(self.rate_per_min)))
        # Requests the burst allows on top of the sustained rate.
        extra = (
            (Fraction(self.burst_per_min) - Fraction(self.rate_per_min)) * Fraction(self.burst_window_s) / 60
        )
        tolerance = math.floor(extra * interval)
        object.__setattr__(self, "interval_us", interval)
        object.__setattr__(self, "tolerance_us", tolerance)
        object.__setattr__(self, "capacity_us", tolerance + interval)
        object.__setattr__(self, "per_minute", int(self.rate_per_min))

    @property
    def max_cost(self) -> int:
        """The largest cost a full bucket can admit at once."""
        return self.capacity_us // self.interval_us


class Decision(msgspec.Struct, frozen=True, gc=False):
    allowed: bool
    limit: int  # the sustained rate per minute (x-ratelimit-limit)
    remaining: int  # how many more cost-1 requests would be admitted right now
    reset_at: float  # Unix seconds when the bucket is full again
    retry_after: float  # seconds until this request would be admitted; 0.0 when allowed;
    # math.inf when cost > limit.max_cost (it can never be admitted)


def check_us(tat_us: int | None, now_us: int, limit: Limit, cost: int = 1) -> tuple[Decision, int | None]:
    """Admit or refuse a request of `cost` at `now_us`; return the decision and the new TAT
    (None when the state is unchanged, i.e. refused)."""
    interval = limit.interval_us
    base = now_us if tat_us is None or tat_us < now_us else tat_us
    new_tat = base + cost * interval
    horizon = now_us + limit.capacity_us  # the TAT may not run past this
    if new_tat <= horizon:
        return Decision(True, limit.per_minute, (horizon - new_tat) // interval, new_tat / US, 0.0), new_tat
    # Whole microseconds: at now + retry_after the horizon reaches new_tat exactly.
    retry_after = math.inf if cost > limit.max_cost else (new_tat - horizon) / US
    # max(): a TAT written under a larger limit (tier downgrade) may lie past this horizon.
    remaining = max(0, (horizon - base) // interval)
    return Decision(False, limit.per_minute, remaining, base / US, retry_after), None


def check(tat: float | None, now: float, limit: Limit, cost: int = 1) -> tuple[Decision, float | None]:
    """`check_us` on float Unix seconds (exact: to_us round-trips a microsecond time)."""
    decision, new_tat = check_us(None if tat is None else to_us(tat), to_us(now), limit, cost)
    return decision, None if new_tat is None else new_tat / US
