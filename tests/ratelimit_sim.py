"""Drives a rate limiter on a fake clock and measures what it admitted (shared by the
memory and Redis tests, so both stores are held to the same numbers)."""

from __future__ import annotations

import bisect
from collections.abc import Awaitable, Callable

from farebox.ratelimit import Decision

# (tier, sustained req/min, burst req/min) from the llmdeal spec, section 10.
TIERS = [("starter", 60, 120), ("pro", 200, 400), ("elite", 500, 1000)]

START_US = 1_700_000_000_123_457  # an arbitrary, unaligned Unix time


class FakeClock:
    """Unix time kept in whole microseconds, returned as float seconds (which round-trips)."""

    def __init__(self, start_us: int = START_US) -> None:
        self.us = start_us

    def __call__(self) -> float:
        return self.us / 1e6

    def advance(self, seconds: float) -> None:
        self.us += round(seconds * 1e6)


async def hammer(
    check: Callable[[], Awaitable[Decision]], clock: FakeClock, duration_s: float, steps_us: Callable[[], int]
) -> list[int]:
    """At every step, send requests until one is refused; return the admission times in
    microseconds since the start."""
    start = clock.us
    admitted: list[int] = []
    while clock.us - start < duration_s * 1e6:
        for _ in range(100_000):
            if not (await check()).allowed:
                break
            admitted.append(clock.us - start)
        else:
            raise AssertionError("the limiter never refused")
        clock.us += steps_us()
    return admitted


def count_before(times: list[int], window_s: float) -> int:
    return bisect.bisect_left(times, round(window_s * 1e6))


def max_in_any_window(times: list[int], window_s: float) -> int:
    """The most admissions in any half-open window [t, t + window_s) (times sorted)."""
    width = round(window_s * 1e6)
    best, lo = 0, 0
    for hi, t in enumerate(times):
        while times[lo] <= t - width:
            lo += 1
        best = max(best, hi - lo + 1)
    return best
