"""Admit or reject by the key's (or account's) limit; the decision also feeds the headers."""

from __future__ import annotations

import math

from farebox.directory import Principal
from farebox.errors import RateLimited
from farebox.ratelimit.base import RateLimiter
from farebox.ratelimit.gcra import Decision


async def admit(limiter: RateLimiter, principal: Principal, scope: str) -> Decision:
    key = f"a{principal.account_id}" if scope == "account" else f"k{principal.key_id}"
    decision = await limiter.check(key, principal.limit)
    if not decision.allowed:
        wait = max(1, math.ceil(decision.retry_after))
        raise RateLimited(
            f"Rate limit reached for your key ({principal.rpm} requests/min sustained, "
            f"{principal.burst_rpm}/min burst). Retry after {wait} s.",
            headers=dict(headers(decision), **{"Retry-After": str(wait),
                                                "retry-after-ms": str(math.ceil(decision.retry_after * 1000))}))
    return decision


def headers(decision: Decision) -> dict[str, str]:
    return {"x-ratelimit-limit": str(decision.limit), "x-ratelimit-remaining": str(decision.remaining),
            "x-ratelimit-reset": str(math.ceil(decision.reset_at))}
