"""Rate limits: GCRA maths (gcra), the limiter interface (base), in-memory and Redis stores."""

from farebox.ratelimit.base import ConcurrencyLimiter, FailurePolicy, RateLimiter
from farebox.ratelimit.gcra import Decision, Limit
from farebox.ratelimit.memory import MemoryConcurrencyLimiter, MemoryRateLimiter

__all__ = [
    "ConcurrencyLimiter",
    "Decision",
    "FailurePolicy",
    "Limit",
    "MemoryConcurrencyLimiter",
    "MemoryRateLimiter",
    "RateLimiter",
]
