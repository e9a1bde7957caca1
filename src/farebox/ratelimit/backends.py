"""Pick the limiter store from the config: in memory, or Redis when `redis:` is set."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from farebox.config import Config
from farebox.ratelimit.base import ConcurrencyLimiter, RateLimiter
from farebox.ratelimit.memory import MemoryConcurrencyLimiter, MemoryRateLimiter

if TYPE_CHECKING:
    from redis.asyncio import Redis

Clock = Callable[[], float]


@dataclass
class Limiters:
    rate: RateLimiter
    concurrency: ConcurrencyLimiter


def build_limiters(config: Config, redis: Redis | None, clock: Clock | None = None) -> Limiters:
    """`redis`: the process's shared client (redisconn.connect_redis, fail-fast settings), or None
    for in-memory limits. `clock` (Unix seconds) is for tests; without it memory uses time.time
    and Redis its TIME."""
    if redis is None:
        return Limiters(MemoryRateLimiter(clock) if clock else MemoryRateLimiter(), MemoryConcurrencyLimiter())
    from farebox.ratelimit.redis import RedisConcurrencyLimiter, RedisRateLimiter

    policy = config.rate_limits.on_redis_failure
    return Limiters(RedisRateLimiter(redis, on_failure=policy, clock=clock),
                    RedisConcurrencyLimiter(redis, on_failure=policy))
