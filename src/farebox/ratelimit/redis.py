"""Limiters shared through Redis, for several gateway processes or machines.

One Lua script call per check (auto-pipelined with the process's other hot calls: redispipe);
one Redis key per bucket holding its TAT in integer microseconds, expiring when the bucket is
full again. The decision itself is computed
by gcra.check_us from what the script saw, so both stores report identically.

When Redis fails, the configured policy answers ("open": admit, "closed": refuse), one warning
is logged per outage, and Redis is tried again after `retry_interval` seconds; redis-py
reconnects by itself and the pipe re-loads the script after a restart (NOSCRIPT).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any

from redis.asyncio import Redis
from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from farebox.ratelimit.base import FailurePolicy
from farebox.ratelimit.gcra import Decision, Limit, check_us, to_us
from farebox.storage.redispipe import script_pipe

log = logging.getLogger(__name__)

_FAILURES = (RedisError, OSError)  # OSError covers TimeoutError from the asyncio guard

# KEYS[1]: the bucket. ARGV: interval_us, capacity_us, cost[, now_us].
# Returns {stored TAT or -1, now_us}; stores the new TAT only when the request is admitted,
# by the same rule as gcra.check_us.
_GCRA_LUA = """
local interval = tonumber(ARGV[1])
local capacity = tonumber(ARGV[2])
local cost = tonumber(ARGV[3])
local now
if ARGV[4] then
  now = tonumber(ARGV[4])
else
  if redis.replicate_commands then redis.replicate_commands() end
  local t = redis.call('TIME')
  now = tonumber(t[1]) * 1000000 + tonumber(t[2])
end
local stored = redis.call('GET', KEYS[1])
local tat = -1
local base = now
if stored then
  tat = tonumber(stored)
  if tat > now then base = tat end
end
local new_tat = base + cost * interval
if new_tat - now <= capacity then
  local ttl_ms = math.max(1, math.ceil((new_tat - now) / 1000))
  redis.call('SET', KEYS[1], string.format('%d', new_tat), 'PX', ttl_ms)
end
return {tat, now}
"""

# KEYS[1]: the in-flight counter. ARGV: max_concurrent, ttl_s. Returns 1 when a slot was taken.
_ACQUIRE_LUA = """
local n = tonumber(redis.call('GET', KEYS[1]) or '0')
if n >= tonumber(ARGV[1]) then return 0 end
redis.call('INCR', KEYS[1])
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""

# A counter that expired while requests were in flight must not go negative.
_RELEASE_LUA = """
if redis.call('DECR', KEYS[1]) <= 0 then redis.call('DEL', KEYS[1]) end
return 0
"""


class _Outage:
    """Tracks whether Redis is down: one warning per outage, and a pause between retries."""

    def __init__(self, what: str, policy: FailurePolicy, retry_interval: float) -> None:
        self.what = what
        self.policy = policy
        self.retry_interval = retry_interval
        self.down = False
        self._retry_at = 0.0

    def skip(self) -> bool:
        """True while down and not due for another try: answer by policy, with no I/O."""
        if not self.down:
            return False
        now = time.monotonic()
        if now < self._retry_at:
            return True
        self._retry_at = now + self.retry_interval  # this caller probes; the others keep skipping
        return False

    def failed(self, exc: BaseException) -> None:
        if not self.down:
            self.down = True
            log.warning(
                "%s: Redis unavailable (%s: %s); failing %s until it is back",
                self.what,
                type(exc).__name__,
                exc,
                self.policy,
            )
        self._retry_at = time.monotonic() + self.retry_interval

    def recovered(self) -> None:
        if self.down:
            self.down = False
            log.info("%s: Redis is back", self.what)


class RedisRateLimiter:
    """GCRA buckets in Redis. Uses Redis server time unless a clock is injected (tests)."""

    def __init__(
        self,
        client: Redis,
        *,
        on_failure: FailurePolicy = "open",
        clock: Callable[[], float] | None = None,
        prefix: str = "farebox:rl:",
        timeout: float | None = 0.5,
        retry_interval: float = 1.0,
    ) -> None:
        self._script = client.register_script(_GCRA_LUA)
        self._pipe = script_pipe(client)
        self._clock = clock
        self._prefix = prefix
        self._timeout = timeout
        self._outage = _Outage("rate limiter", on_failure, retry_interval)

    async def check(self, key: str, limit: Limit, cost: int = 1) -> Decision:
        if self._outage.skip():
            return self._fallback(limit)
        args: list[int] = [limit.interval_us, limit.capacity_us, cost]
        if self._clock is not None:
            args.append(to_us(self._clock()))
        try:
            async with asyncio.timeout(self._timeout):
                tat, now = await self._pipe.call(self._script, [self._prefix + key], args)
        except _FAILURES as exc:
            self._outage.failed(exc)
            return self._fallback(limit)
        self._outage.recovered()
        return check_us(tat if tat >= 0 else None, now, limit, cost)[0]

    def _fallback(self, limit: Limit) -> Decision:
        now = time.time() if self._clock is None else self._clock()
        if self._outage.policy == "open":
            return Decision(True, limit.per_minute, limit.per_minute, now, 0.0)
        return Decision(False, limit.per_minute, 0, now + 1.0, 1.0)


class RedisConcurrencyLimiter:
    """In-flight counters in Redis. A counter expires `ttl_s` after its last acquire, so slots
    leaked by a crashed process come back once the key goes idle."""

    def __init__(
        self,
        client: Redis,
        *,
        on_failure: FailurePolicy = "open",
        prefix: str = "farebox:cc:",
        ttl_s: int = 900,
        timeout: float | None = 0.5,
        retry_interval: float = 1.0,
    ) -> None:
        self._acquire = client.register_script(_ACQUIRE_LUA)
        self._release = client.register_script(_RELEASE_LUA)
        self._pipe = script_pipe(client)
        self._prefix = prefix
        self._ttl_s = ttl_s
        self._timeout = timeout
        self._outage = _Outage("concurrency limiter", on_failure, retry_interval)
        # Slots granted by the failure policy without a Redis count: their release must not
        # decrement a count they never added to.
        self._uncounted: dict[str, int] = {}

    async def acquire(self, key: str, max_concurrent: int) -> bool:
        if not self._outage.skip():
            try:
                return bool(await self._call(self._acquire, key, max_concurrent, self._ttl_s))
            except _FAILURES as exc:
                self._outage.failed(exc)
        if self._outage.policy == "closed":
            return False
        self._uncounted[key] = self._uncounted.get(key, 0) + 1
        return True

    async def release(self, key: str) -> None:
        uncounted = self._uncounted.get(key, 0)
        if uncounted:
            if uncounted > 1:
                self._uncounted[key] = uncounted - 1
            else:
                del self._uncounted[key]
            return
        if self._outage.skip():
            return  # the counter's expiry gives the slot back
        try:
            await self._call(self._release, key)
        except _FAILURES as exc:
            self._outage.failed(exc)

    async def _call(self, script: AsyncScript, key: str, *args: int) -> Any:
        async with asyncio.timeout(self._timeout):
            result = await self._pipe.call(script, [self._prefix + key], args)
        self._outage.recovered()
        return result
