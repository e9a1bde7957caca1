"""Failover's backoff: full jitter under an exponential ceiling, capped by backoff_max."""

from __future__ import annotations

import asyncio
import random
from typing import Any

from farebox.config import CircuitConfig, FailoverConfig
from farebox.pipeline.failover import Failover, _Run
from farebox.routing.health import Health


def backoffs(tries: int, planned: int, samples: int = 400) -> list[float]:
    runner = Failover(FailoverConfig(backoff_base=0.1, backoff_max=1.0), Health(CircuitConfig()), rng=random.Random(7))

    async def draw() -> list[float]:
        run = _Run(runner, call=Any, deadline=0.0)  # type: ignore[arg-type]
        run.plan = [None] * planned  # type: ignore[list-item]
        run.tries = tries
        return [run._backoff() for _ in range(samples)]

    return asyncio.run(draw())


def test_backoff_doubles_per_retry_with_full_jitter() -> None:
    first = backoffs(tries=2, planned=2)  # first retry after one round over two deployments
    assert min(first) >= 0 and max(first) <= 0.1 and max(first) > 0.09
    third = backoffs(tries=4, planned=2)
    assert max(third) <= 0.4 and max(third) > 0.36
    assert len(set(third)) == len(third)  # jittered, not a fixed pause


def test_backoff_is_capped() -> None:
    assert max(backoffs(tries=20, planned=2)) <= 1.0
