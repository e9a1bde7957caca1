"""Schemathesis over the official OpenAI spec's `POST /chat/completions`, against a real gateway
with a real key and a fake upstream: its coverage phase (every field at its boundaries, missing,
of each wrong type: deterministic) and a fixed-seed fuzzing run in both modes (valid and
invalid bodies). No answer is a 5xx, every error is OpenAI's envelope, no request hangs, and the
gateway still serves afterwards."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from itertools import islice

import pytest
import requests
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis import Case, GenerationMode
from schemathesis.generation.drivers import CoverageGenerator
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.generation.overrides import Override

from tests.hostile.chat_spec import chat_operation
from tests.hostile.verdict import fault
from tests.support import http
from tests.support.gateway import Gateway

# Bounded for CI on two cores: drawing from this spec costs hypothesis ~0.3 s (valid) to ~0.8 s
# (invalid) of CPU per body, a coverage case ~10 ms.
FUZZ_EXAMPLES = 75  # a fixed seed (derandomize): the same bodies on every run
COVERAGE_STRIDE = 3  # every third of the ~1,150 coverage cases: each field still gets several
TIMEOUT = 15  # seconds: far above any honest answer on loopback, so only a hang reaches it


class Driver:
    """Sends cases as schemathesis serialises them; half of the bodies name our model instead of
    the spec's, so valid requests also reach routing, billing and the upstream."""

    def __init__(self, gateway: Gateway, key: str) -> None:
        self.base_url = gateway.base_url
        self.headers = {"Authorization": f"Bearer {key}"}
        self.session = requests.Session()
        self.sent = 0
        self.statuses: dict[int, int] = {}
        self.faults: list[str] = []

    def send(self, case: Case) -> None:
        self.sent += 1
        if self.sent % 2 and isinstance(case.body, dict) and isinstance(case.body.get("model"), str):
            case.body["model"] = "coder"
        try:
            reply = case.call(base_url=self.base_url, session=self.session, headers=self.headers, timeout=TIMEOUT)
        except requests.RequestException as exc:
            self.faults.append(f"no answer ({type(exc).__name__}): {case.as_curl_command()[:400]}")
            return
        self.statuses[reply.status_code] = self.statuses.get(reply.status_code, 0) + 1
        content_type = (reply.headers.get("content-type") or [""])[0]  # schemathesis: lowercase keys, lists
        problem = fault(reply.status_code, content_type, reply.content)
        if problem:
            self.faults.append(f"{problem}\n  {case.as_curl_command()[:400]}")


def coverage_cases() -> Iterable[Case]:
    operation = chat_operation()
    generation = operation.schema.config.generation_for(operation=operation, phase="coverage")
    return CoverageGenerator(operation=operation, generation_modes=list(GenerationMode),
                             generation_config=generation, auth_storage=None, override=Override(),
                             feedback=FeedbackSources())


def fuzz(send: Callable[[Case], None]) -> None:
    """Hypothesis draws FUZZ_EXAMPLES cases, valid and invalid; faults are collected, never
    raised, so no time goes to shrinking."""
    operation = chat_operation()
    strategy = operation.as_strategy(generation_mode=GenerationMode.POSITIVE) | operation.as_strategy(
        generation_mode=GenerationMode.NEGATIVE)

    @settings(max_examples=FUZZ_EXAMPLES, derandomize=True, database=None, deadline=None,
              phases=[Phase.generate], suppress_health_check=list(HealthCheck))
    @given(strategy)
    def run(case: Case) -> None:
        send(case)

    run()


@pytest.fixture
def driver(gateway: Gateway, key: str) -> Driver:
    return Driver(gateway, key)


def test_the_coverage_phase_never_gets_a_5xx_or_a_bare_error(driver: Driver) -> None:
    for case in islice(coverage_cases(), 0, None, COVERAGE_STRIDE):
        driver.send(case)
    assert driver.sent > 300, driver.sent
    assert driver.faults == [], f"{len(driver.faults)} of {driver.sent}:\n" + "\n".join(driver.faults[:10])
    assert driver.statuses.get(200, 0) > 10 and driver.statuses.get(400, 0) > 50, driver.statuses
    assert_still_serving(driver)


def test_fuzzed_bodies_never_get_a_5xx_or_a_bare_error(driver: Driver) -> None:
    fuzz(driver.send)
    assert driver.sent == FUZZ_EXAMPLES
    assert driver.faults == [], f"{len(driver.faults)} of {driver.sent}:\n" + "\n".join(driver.faults[:10])
    assert_still_serving(driver)


def assert_still_serving(driver: Driver) -> None:
    reply = http.post(f"{driver.base_url}/chat/completions", headers=driver.headers,
                      json_body={"model": "coder", "messages": [{"role": "user", "content": "still there?"}]})
    assert reply.status_code == 200, reply.text
