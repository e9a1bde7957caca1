"""In-process limiters for a single gateway process (one asyncio loop, so no locks)."""

from __future__ import annotations

import time
from collections.abc import Callable

from farebox.ratelimit.gcra import US, Decision, Limit, check_us

_MIN_SWEEP = 1024  # don't bother sweeping small dicts


class MemoryRateLimiter:
    """GCRA buckets in one dict: key -> TAT (integer microseconds).

    A TAT in the past is a full bucket, the same as no entry, so dropping such entries loses
    nothing. They are swept when the dict has doubled since the last sweep: O(1) amortised,
    no background task.
    """

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self._clock = clock
        self._tats: dict[str, int] = {}
        self._sweep_at = _MIN_SWEEP

    async def check(self, key: str, limit: Limit, cost: int = 1) -> Decision:
        now = round(self._clock() * US)
        tats = self._tats
        decision, new_tat = check_us(tats.get(key), now, limit, cost)
        if new_tat is not None:
            tats[key] = new_tat
            if len(tats) >= self._sweep_at:
                self._sweep(now)
        return decision

    def __len__(self) -> int:
        return len(self._tats)

    def _sweep(self, now: int) -> None:
        self._tats = {key: tat for key, tat in self._tats.items() if tat > now}
        self._sweep_at = max(_MIN_SWEEP, 2 * len(self._tats))


class MemoryConcurrencyLimiter:
    """Counts in-flight requests per key; a key with none in flight holds no entry."""

    def __init__(self) -> None:
        self._in_flight: dict[str, int] = {}

    async def acquire(self, key: str, max_concurrent: int) -> bool:
        count = self._in_flight.get(key, 0)
        if count >= max_concurrent:
            return False
        self._in_flight[key] = count + 1
        return True

    async def release(self, key: str) -> None:
        count = self._in_flight.get(key, 0) - 1
        if count > 0:
            self._in_flight[key] = count
        else:
            self._in_flight.pop(key, None)

    def in_flight(self, key: str) -> int:
        return self._in_flight.get(key, 0)
