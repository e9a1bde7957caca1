"""The Redis client a gateway process uses: fail fast (short timeouts), so that the configured
failure policy answers instead of requests waiting on a dead server.

No client-side retry: every call farebox makes is a script that changes state (a rate check, a
hold, a release), and redis-py re-sends a command whose reply was lost (timeout, reset), so the
script would run twice. A failed call fails; the callers' own recovery (holds by id, the
heartbeat, the failure policies) takes it from there. A pooled connection that the server closed
is still replaced at checkout, so a Redis restart costs no spurious failure."""

from __future__ import annotations

from redis.asyncio import Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

NO_RETRY = Retry(NoBackoff(), 0)


def connect_redis(url: str) -> Redis:
    return Redis.from_url(url, retry=NO_RETRY, socket_connect_timeout=0.5, socket_timeout=0.5,
                          health_check_interval=10)
