"""Deployment health: a circuit breaker per deployment, and the live/degraded/down status that
smart-route and /v1/models?metadata=true read.

A circuit opens after `consecutive_failures` failures in a row, or when more than `error_rate`
of the last `window` calls failed; it stays open for `cooldown` seconds, then lets one probe
through (half-open): success closes it, failure opens it again.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from farebox.config import CircuitConfig

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass
class Breaker:
    state: str = CLOSED
    consecutive: int = 0
    opened_at: float = 0.0
    probing: bool = False
    recent: deque[bool] = field(default_factory=deque)  # True = failure
    latency_ewma: float | None = None
    successes: int = 0
    failures: int = 0


class Health:
    def __init__(self, policy: CircuitConfig, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self.clock = clock
        self._breakers: dict[str, Breaker] = {}

    def _breaker(self, deployment: str) -> Breaker:
        breaker = self._breakers.get(deployment)
        if breaker is None:
            breaker = self._breakers[deployment] = Breaker()
        return breaker

    def allow(self, deployment: str) -> bool:
        """May a request go to this deployment now? (Claims the half-open probe if it is due.)"""
        breaker = self._breakers.get(deployment)
        if breaker is None or breaker.state == CLOSED:
            return True
        if breaker.state == OPEN and self.clock() - breaker.opened_at >= self.policy.cooldown:
            breaker.state = HALF_OPEN
            breaker.probing = False
        if breaker.state == HALF_OPEN and not breaker.probing:
            breaker.probing = True
            return True
        return False

    def record_success(self, deployment: str, latency_s: float | None = None) -> None:
        breaker = self._breaker(deployment)
        breaker.successes += 1
        breaker.consecutive = 0
        if breaker.state != CLOSED:  # a fresh start: old failures must not reopen it at once
            breaker.recent.clear()
        breaker.state, breaker.probing = CLOSED, False
        self._remember(breaker, failed=False)
        if latency_s is not None:
            previous = breaker.latency_ewma
            breaker.latency_ewma = latency_s if previous is None else 0.8 * previous + 0.2 * latency_s

    def record_failure(self, deployment: str) -> None:
        breaker = self._breaker(deployment)
        breaker.failures += 1
        breaker.consecutive += 1
        self._remember(breaker, failed=True)
        failures = sum(breaker.recent)
        over_rate = (len(breaker.recent) >= self.policy.window
                     and failures / len(breaker.recent) > self.policy.error_rate)
        if breaker.state == OPEN:  # a late failure of a call sent before it opened
            return
        if (breaker.state == HALF_OPEN or breaker.consecutive >= self.policy.consecutive_failures
                or over_rate):
            breaker.state, breaker.opened_at, breaker.probing = OPEN, self.clock(), False

    def release(self, deployment: str) -> None:
        """Give back a claimed half-open probe that ended without a verdict (the client left)."""
        breaker = self._breakers.get(deployment)
        if breaker is not None and breaker.state == HALF_OPEN:
            breaker.probing = False

    def retry_in(self, deployment: str) -> float:
        """Seconds until an open circuit lets a probe through (0 when it is not open)."""
        breaker = self._breakers.get(deployment)
        if breaker is None or breaker.state != OPEN:
            return 0.0
        return max(0.0, self.policy.cooldown - (self.clock() - breaker.opened_at))

    def _remember(self, breaker: Breaker, *, failed: bool) -> None:
        breaker.recent.append(failed)
        while len(breaker.recent) > self.policy.window:
            breaker.recent.popleft()

    def state(self, deployment: str) -> str:
        breaker = self._breakers.get(deployment)
        if breaker is None:
            return CLOSED
        if breaker.state == OPEN and self.clock() - breaker.opened_at >= self.policy.cooldown:
            return HALF_OPEN
        return breaker.state

    def latency(self, deployment: str) -> float | None:
        breaker = self._breakers.get(deployment)
        return breaker.latency_ewma if breaker else None

    def status(self, deployments: list[str]) -> str:
        """live (all closed), degraded (some not closed), down (none closed or half-open)."""
        states = [self.state(d) for d in deployments]
        if not states or all(s == OPEN for s in states):
            return "down"
        return "live" if all(s == CLOSED for s in states) else "degraded"

    def snapshot(self, deployments: list[str] | None = None) -> dict[str, dict[str, object]]:
        """Every known deployment's circuit (and `deployments`, even those never called)."""
        names = list(self._breakers)
        names += [d for d in deployments or () if d not in self._breakers]
        empty = Breaker()
        out: dict[str, dict[str, object]] = {}
        for name in names:
            b = self._breakers.get(name, empty)
            failed = sum(b.recent)
            out[name] = {"state": self.state(name), "consecutive_failures": b.consecutive,
                         "recent_error_rate": round(failed / len(b.recent), 3) if b.recent else 0.0,
                         "retry_in_s": round(self.retry_in(name), 3), "successes": b.successes,
                         "failures": b.failures,
                         "latency_ms": None if b.latency_ewma is None else round(b.latency_ewma * 1000, 2)}
        return out
