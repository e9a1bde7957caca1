"""What the request pipeline needs from a rate limiter; memory.py and redis.py implement it."""

from __future__ import annotations

from typing import Protocol

from farebox.config import FailurePolicy
from farebox.ratelimit.gcra import Decision, Limit

__all__ = ["ConcurrencyLimiter", "FailurePolicy", "RateLimiter"]


class RateLimiter(Protocol):
    async def check(self, key: str, limit: Limit, cost: int = 1) -> Decision:
        """Admit or refuse one request of `cost` (>= 1) against `key`'s bucket for `limit`.

        One key holds one bucket: use distinct keys for distinct limits of one principal
        (the rate gate uses "k42" and "k42:tpm")."""
        ...


class ConcurrencyLimiter(Protocol):
    async def acquire(self, key: str, max_concurrent: int) -> bool:
        """Take one of `max_concurrent` slots for `key`; False when all are taken."""
        ...

    async def release(self, key: str) -> None:
        """Give back a slot taken by a successful acquire (call it exactly once, in finally)."""
        ...
