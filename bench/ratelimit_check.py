"""Per-call cost of MemoryRateLimiter.check (the hot-path limiter in one-process mode).

PYTHONPATH=src python bench/ratelimit_check.py
"""

from __future__ import annotations

import asyncio
import timeit
from collections.abc import Coroutine
from typing import Any

from farebox.ratelimit import Decision, Limit, MemoryRateLimiter
from farebox.ratelimit.gcra import check_us

N = 100_000
ELITE = Limit(500, 1000)  # hammered from one key: almost every call is refused
HUGE = Limit(1e9, 2e9)  # every call admitted


def drive(coro: Coroutine[Any, Any, Decision]) -> Decision:
    """Run a coroutine that never suspends, without an event loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    raise AssertionError("the coroutine suspended")


def per_call_us(fn: Any) -> float:
    return min(timeit.repeat(fn, number=N, repeat=5)) / N * 1e6


def main() -> None:
    limiter = MemoryRateLimiter()
    keys = [f"key:{i}:rpm" for i in range(1000)]
    turn = iter(range(10**12))
    now = 1_700_000_000_000_000
    cases = {
        "gcra.check_us alone": lambda: check_us(now, now, ELITE),
        "check, one key, refused": lambda: drive(limiter.check("k", ELITE)),
        "check, one key, admitted": lambda: drive(limiter.check("k", HUGE)),
        "check, 1000 keys round-robin": lambda: drive(limiter.check(keys[next(turn) % 1000], HUGE)),
    }
    for name, fn in cases.items():
        print(f"{name:<32} {per_call_us(fn):.2f} us")

    async def awaited() -> None:
        for _ in range(N):
            await limiter.check("k", HUGE)

    best = min(timeit.repeat(lambda: asyncio.run(awaited()), number=1, repeat=5)) / N * 1e6
    print(f"{'awaited in an asyncio loop':<32} {best:.2f} us")


if __name__ == "__main__":
    main()
