"""The Redis client a gateway process uses: fail fast (short timeouts, one retry), so that the
configured failure policy answers instead of requests waiting on a dead server."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff


def connect_redis(url: str) -> Redis:
    return Redis.from_url(url, retry=Retry(NoBackoff(), 1), socket_connect_timeout=0.5, socket_timeout=0.5,
                          health_check_interval=10)
