"""Schemathesis over the official OpenAI spec's `POST /chat/completions`, against a real gateway
with a real key and a fake upstream: its coverage phase (every field at its boundaries, missing,
of each wrong type: deterministic) and a fixed-seed fuzzing run in both modes (valid and
invalid bodies). No answer is a 5xx, every error is OpenAI's envelope, no request hangs, and the
gateway still serves afterwards."""

from __future__ import annotations

from collections.abc import Callable
from itertools import islice

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import GenerationMode

from tests.hostile.chat_spec import chat_operation
from tests.hostile.driver import AnyCase, Driver, coverage_cases
from tests.support import http
from tests.support.gateway import Gateway

# Bounded for CI on two cores: drawing from this spec costs hypothesis ~0.3 s (valid) to ~0.8 s
# (invalid) of CPU per body, a coverage case ~10 ms.
FUZZ_EXAMPLES = 75  # a fixed seed (derandomize): the same bodies on every run
COVERAGE_STRIDE = 3  # every third of the ~1,150 coverage cases: each field still gets several


def fuzz(send: Callable[[AnyCase], None]) -> None:
    """Hypothesis draws FUZZ_EXAMPLES cases, valid and invalid; faults are collected, never
    raised, so no time goes to shrinking."""
    operation = chat_operation()
    strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE) | operation.as_strategy(
        generation_mode=GenerationMode.NEGATIVE)

    @settings(max_examples=FUZZ_EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(case: AnyCase) -> None:
        send(case)

    run()


@pytest.fixture
def driver(gateway: Gateway, key: str) -> Driver:
    return Driver(gateway.base_url, key, rename=our_model)


def our_model(n: int, model: str) -> str:
    """A quarter of the bodies name a pinned model, a quarter the wildcard route with the spec's
    name as its suffix (the client's own text, echoed in a header), the rest the spec's model."""
    return {1: "coder", 3: f"up/{model}"}.get(n % 4, model)


def test_the_coverage_phase_never_gets_a_5xx_or_a_bare_error(driver: Driver) -> None:
    for case in islice(coverage_cases(chat_operation()), 0, None, COVERAGE_STRIDE):
        driver.send(case)
    assert driver.sent > 300, driver.sent
    assert driver.faults == [], driver.report()
    assert driver.statuses.get(200, 0) > 10 and driver.statuses.get(400, 0) > 50, driver.statuses
    assert_still_serving(driver)


def test_fuzzed_bodies_never_get_a_5xx_or_a_bare_error(driver: Driver) -> None:
    fuzz(driver.send)
    assert driver.sent == FUZZ_EXAMPLES
    assert driver.faults == [], driver.report()
    assert_still_serving(driver)


def assert_still_serving(driver: Driver) -> None:
    reply = http.post(f"{driver.base_url}/chat/completions", headers=driver.headers,
                      json_body={"model": "coder", "messages": [{"role": "user", "content": "still there?"}]})
    assert reply.status_code == 200, reply.text
