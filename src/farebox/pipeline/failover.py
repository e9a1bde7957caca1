"""Failover: send one request to its candidate deployments in turn until one answers.

- The first round tries every deployment of every candidate model once, in routing order
  (priority, then weight; smart-route: cheapest capable model first), without pausing: a
  different deployment is a fresh chance.
- Only when all were tried does a deployment get another attempt, after a jittered
  exponential backoff, or after the upstream's Retry-After when that is short
  (<= `max_retry_after`). A longer Retry-After, a credentials error or an unknown upstream
  model drops the deployment for this request.
- Everything stops at `max_attempts` or the `deadline`; open circuits are skipped without a
  network call.
- A non-retryable upstream error (a 400 for a bad request) ends failover at once and reaches
  the client in the OpenAI envelope with the upstream's message.
- Failed attempts and skipped circuits are recorded in `call.attempts` (the ledger row's
  `attempts` JSON); the deployment that answered is the row's `deployment`.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from farebox.config import FailoverConfig
from farebox.errors import ModelUnavailable, UpstreamFailed
from farebox.pipeline.call import Call
from farebox.pipeline.route import ordered_targets
from farebox.providers.base import Target, UpstreamError
from farebox.providers.errors import public_message
from farebox.routing.catalog import CatalogModel
from farebox.routing.health import OPEN, Health

T = TypeVar("T")
# One attempt: the deployment, and the seconds left before the failover deadline.
Attempt = Callable[[Target, float], Awaitable[T]]
Afford = Callable[[CatalogModel], Awaitable[bool]]

# Errors that another deployment may fix but a retry of the same one will not.
NOT_ON_SAME_DEPLOYMENT = frozenset({"upstream_auth_error", "upstream_model_not_found"})


class Failover:
    def __init__(self, policy: FailoverConfig, health: Health, *, rng: random.Random | None = None,
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self.policy = policy
        self.health = health
        self.rng = rng or random.Random()
        self.sleep = sleep

    async def run(self, call: Call, attempt: Attempt[T], afford: Afford) -> T:
        """The first successful attempt's result; ModelUnavailable (503) when none succeeded."""
        run = _Run(self, call, asyncio.get_running_loop().time() + self.policy.deadline)
        # The first round builds the plan as it goes (a pricier model is only paid for when the
        # cheaper ones failed); later rounds replay it. Plain loops, no generator: this runs
        # once per request.
        for index, model in enumerate(call.candidates):
            if index and not await afford(model):  # smart-route: grow the hold for a pricier model
                continue
            for target in ordered_targets(model):
                run.plan.append((model, target))
                found, result = await run.step(attempt, model, target)
                if found:
                    return result  # type: ignore[return-value]
        while run.made:
            run.made = False
            run.rounds += 1
            for model, target in run.plan:
                found, result = await run.step(attempt, model, target)
                if found:
                    return result  # type: ignore[return-value]
        raise run.unavailable()


class _Run:
    """The state of one request's failover."""

    def __init__(self, owner: Failover, call: Call, deadline: float) -> None:
        self.owner = owner
        self.policy = owner.policy
        self.health = owner.health
        self.call = call
        self.loop = asyncio.get_running_loop()
        self.deadline = deadline
        self.plan: list[tuple[CatalogModel, Target]] = []
        self.rounds = 0
        self.made = False  # an attempt was made this round (so another round may help)
        self.tries = 0
        self.retry_at: dict[str, float] = {}  # deployment -> loop time its Retry-After ends
        self.dropped: set[str] = set()
        self.noted_open: set[str] = set()
        self.hints: list[float] = []  # Retry-After values seen, for the final 503

    async def step(self, attempt: Attempt[T], model: CatalogModel, target: Target) -> tuple[bool, T | None]:
        """Try `target` unless it must be skipped this round; (True, result) when it answered."""
        if self.exhausted():
            raise self.unavailable()
        deployment = target.deployment
        wait = self.wait_before(deployment)
        if wait is None:
            return False, None
        if wait:
            await self.owner.sleep(wait)
        if not self.health.allow(deployment):
            self.note_open(deployment)
            return False, None
        self.made = True
        found, result = await self.attempt(attempt, target)
        if found:
            self.call.served_model, self.call.target = model, target
        return found, result

    def exhausted(self) -> bool:
        return self.tries >= self.policy.max_attempts or self.loop.time() >= self.deadline

    def wait_before(self, deployment: str) -> float | None:
        """Seconds to pause before trying `deployment`, or None to skip it now."""
        if deployment in self.dropped:
            return None
        if self.health.state(deployment) == OPEN:
            self.note_open(deployment)
            return None
        now = self.loop.time()
        wait = self._backoff() if self.rounds else 0.0
        wait = max(wait, self.retry_at.get(deployment, now) - now)
        return None if now + wait >= self.deadline else wait

    def _backoff(self) -> float:
        retries = max(0, self.tries - len(self.plan))  # attempts beyond the first round
        ceiling = min(self.policy.backoff_max, self.policy.backoff_base * 2 ** retries)
        return self.owner.rng.uniform(0, ceiling)

    def note_open(self, deployment: str) -> None:
        if deployment not in self.noted_open:
            self.noted_open.add(deployment)
            self.call.attempts.append({"deployment": deployment, "error": "circuit_open"})
            self.hints.append(self.health.retry_in(deployment))

    async def attempt(self, attempt: Attempt[T], target: Target) -> tuple[bool, T | None]:
        deployment = target.deployment
        self.tries += 1
        started = time.perf_counter()
        try:
            result = await attempt(target, max(0.0, self.deadline - self.loop.time()))
        except UpstreamError as exc:
            self._failed(deployment, exc, started)
            return False, None
        except BaseException:  # cancelled (the client left): no verdict on the deployment
            self.health.release(deployment)
            raise
        self.health.record_success(deployment, time.perf_counter() - started)
        return True, result

    def _failed(self, deployment: str, exc: UpstreamError, started: float) -> None:
        self.call.attempts.append({"deployment": deployment, "status": exc.status, "error": exc.code,
                                   "ms": round((time.perf_counter() - started) * 1000, 1)})
        if not exc.retryable:  # the request's fault: the deployment answered, so it is healthy
            self.health.record_success(deployment)
            raise UpstreamFailed(public_message(exc.message, context=deployment), status=exc.status,
                                 code=exc.code, type=exc.type, param=exc.param) from None
        self.health.record_failure(deployment)
        if exc.retry_after:
            self.hints.append(exc.retry_after)
        if exc.code in NOT_ON_SAME_DEPLOYMENT or (exc.retry_after or 0.0) > self.policy.max_retry_after:
            self.dropped.add(deployment)
        elif exc.retry_after:
            self.retry_at[deployment] = self.loop.time() + exc.retry_after

    def unavailable(self) -> ModelUnavailable:
        """503 naming what was tried (deployment names only: no URLs, no keys)."""
        tried = ", ".join(_describe(a) for a in self.call.attempts) or "no deployment was available"
        error = ModelUnavailable(f"`{self.call.requested_model}` is unavailable right now; tried: {tried}.")
        hints = [h for h in self.hints if h > 0]
        if hints:
            error.headers["Retry-After"] = str(max(1, int(min(hints) + 0.999)))
        return error


def _describe(attempt: dict[str, object]) -> str:
    what = " ".join(str(attempt[k]) for k in ("status", "error") if attempt.get(k) is not None)
    return f"{attempt.get('deployment') or attempt.get('model')} ({what.replace('_', ' ')})"
