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
    redis: Redis | None = None  # closed at shutdown

    async def close(self) -> None:
        if self.redis is not None:
            await self.redis.aclose()


def build_limiters(config: Config, clock: Clock | None = None) -> Limiters:
    """`clock` (Unix seconds) is for tests; without it memory uses time.time and Redis its TIME."""
    if not config.redis:
        return Limiters(MemoryRateLimiter(clock) if clock else MemoryRateLimiter(), MemoryConcurrencyLimiter())
    from redis.asyncio import Redis  # only imported when configured
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    from farebox.ratelimit.redis import RedisConcurrencyLimiter, RedisRateLimiter

    # Fail fast (one retry, no backoff, 0.5 s timeouts): a slow Redis must not stall requests;
    # the failure policy answers instead, and the limiter tries Redis again a second later.
    client = Redis.from_url(config.redis, retry=Retry(NoBackoff(), 1), socket_connect_timeout=0.5,
                            socket_timeout=0.5)
    policy = config.rate_limits.on_redis_failure
    return Limiters(RedisRateLimiter(client, on_failure=policy, clock=clock),
                    RedisConcurrencyLimiter(client, on_failure=policy), client)
