"""Admit or reject by the key's (or account's) limits; each decision also feeds the headers.

Buckets of one principal (the key, or the account with `rate_limits.scope: account`):
  "<id>"       chat requests, from the tier's rpm/burst_rpm (or the key/account overrides)
  "<id>:read"  GET /v1/models, /v1/usage, /v1/balance: the same rates, a bucket of their own,
               so polling the balance never eats into chat traffic yet cannot be abused
  "<id>:tpm"   estimated tokens per minute, when the tier sets `tpm`
and one in-flight counter "<id>" when the tier sets `max_concurrent`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from farebox.accounts.directory import Principal
from farebox.config import Tier
from farebox.errors import InvalidRequest, RateLimited
from farebox.ratelimit.base import ConcurrencyLimiter, RateLimiter
from farebox.ratelimit.gcra import Decision, Limit

CONCURRENCY_RETRY_S = 1  # a slot frees when some request ends; we cannot know when


def token_limit(tpm: int) -> Limit:
    """`tpm` tokens a minute, and a full minute's worth at once (capacity exactly tpm tokens):
    burst tolerance tpm - 1 intervals = (burst - rate) x 60 s / 60 with burst = 2 tpm - 1."""
    return Limit(tpm, 2 * tpm - 1, burst_window_s=60)


class Slot:
    """One taken concurrency slot; release() gives it back (idempotent, safe in finally)."""

    __slots__ = ("_key", "_limiter")

    def __init__(self, limiter: ConcurrencyLimiter | None, key: str) -> None:
        self._limiter, self._key = limiter, key

    @property
    def held(self) -> bool:
        return self._limiter is not None

    async def release(self) -> None:
        limiter, self._limiter = self._limiter, None
        if limiter is not None:
            await limiter.release(self._key)


NO_SLOT = Slot(None, "")


class RateGate:
    def __init__(self, limiter: RateLimiter, concurrency: ConcurrencyLimiter, scope: str,
                 tiers: Mapping[str, Tier]) -> None:
        self.limiter = limiter
        self.concurrency = concurrency
        self.scope = scope
        self._tpm = {name: token_limit(t.tpm) for name, t in tiers.items() if t.tpm}

    def bucket(self, principal: Principal) -> str:
        return f"a{principal.account_id}" if self.scope == "account" else f"k{principal.key_id}"

    async def admit(self, principal: Principal, *, read: bool = False) -> dict[str, str]:
        """Count one request; return its x-ratelimit-* headers, or raise 429 carrying them."""
        bucket = self.bucket(principal)
        decision = await self.limiter.check(bucket + ":read" if read else bucket, principal.limit)
        if not decision.allowed:
            raise RateLimited(
                f"Rate limit reached for your {self.scope} ({principal.rpm} requests/min sustained, "
                f"{principal.burst_rpm}/min burst). Retry after {_seconds(decision)} s.",
                headers=headers(decision) | retry_headers(decision))
        return headers(decision)

    async def admit_tokens(self, principal: Principal, tokens: int, into: dict[str, str]) -> None:
        """Count `tokens` (prompt estimate + max output) against the tier's tpm, when set; the
        x-ratelimit-*-tokens headers go into `into` whatever the outcome."""
        limit = self._tpm.get(principal.tier_name)
        if limit is None:
            return
        decision = await self.limiter.check(self.bucket(principal) + ":tpm", limit, max(1, tokens))
        into.update(token_headers(decision))
        if decision.allowed:
            return
        if math.isinf(decision.retry_after):  # more than a full minute's worth: waiting won't help
            raise InvalidRequest(
                f"This request may use up to {tokens} tokens (prompt estimate + max output), over your "
                f"limit of {limit.per_minute} tokens/min: lower max_tokens or shorten the prompt.",
                param="max_tokens")
        raise RateLimited(
            f"Token rate limit reached ({limit.per_minute} tokens/min; this request may use {tokens}). "
            f"Retry after {_seconds(decision)} s.", headers=retry_headers(decision))

    async def acquire(self, principal: Principal) -> Slot:
        """Take a concurrency slot when the tier limits concurrency (429 when none is free)."""
        max_concurrent = principal.tier.max_concurrent
        if not max_concurrent:
            return NO_SLOT
        key = self.bucket(principal)
        if not await self.concurrency.acquire(key, max_concurrent):
            raise RateLimited(
                f"Too many concurrent requests for your {self.scope} (at most {max_concurrent} at once).",
                headers={"Retry-After": str(CONCURRENCY_RETRY_S),
                         "retry-after-ms": str(CONCURRENCY_RETRY_S * 1000)})
        return Slot(self.concurrency, key)


def _seconds(decision: Decision) -> int:
    return max(1, math.ceil(decision.retry_after))


def retry_headers(decision: Decision) -> dict[str, str]:
    """Retry-After in whole seconds (rounded up, never early) and the exact wait in ms."""
    return {"Retry-After": str(_seconds(decision)),
            "retry-after-ms": str(max(1, math.ceil(decision.retry_after * 1000)))}


def headers(decision: Decision) -> dict[str, str]:
    return {"x-ratelimit-limit": str(decision.limit), "x-ratelimit-remaining": str(decision.remaining),
            "x-ratelimit-reset": str(math.ceil(decision.reset_at))}


def token_headers(decision: Decision) -> dict[str, str]:
    return {"x-ratelimit-limit-tokens": str(decision.limit),
            "x-ratelimit-remaining-tokens": str(decision.remaining),
            "x-ratelimit-reset-tokens": str(math.ceil(decision.reset_at))}
