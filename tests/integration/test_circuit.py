"""Circuit breaking end to end: an open circuit sends no traffic to the failing deployment, a
half-open probe closes it once the upstream recovers, and the admin API shows the state."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from openai.types.chat import ChatCompletionMessageParam

from farebox.config import CircuitConfig
from tests.fakes.fake_openai import FakeOpenAI, Script
from tests.integration.resilience import (
    BACKUP,
    PRIMARY,
    attempts_of,
    start_gateway,
)
from tests.support import http
from tests.support.gateway import Gateway
from tests.support.sdk import user

MESSAGES: list[ChatCompletionMessageParam] = [user("ping")]
COOLDOWN = 0.5  # resilience.CONFIG's circuit cooldown; opens after 3 consecutive failures


def admin_health(gateway: Gateway, key: str = "admin-test-key") -> http.Reply:
    return http.get(f"{gateway.server.url}/admin/v1/health", headers={"Authorization": f"Bearer {key}"})


def deployment_state(gateway: Gateway, name: str) -> dict[str, Any]:
    reply = admin_health(gateway)
    assert reply.status_code == 200
    return dict(reply.json()["deployments"][name])


def test_open_circuit_takes_no_traffic_and_closes_after_recovery(
        upstreams: tuple[FakeOpenAI, FakeOpenAI], make_gateway: Callable[[str], Gateway]) -> None:
    primary, backup = upstreams
    gateway = start_gateway(make_gateway, primary.base_url, backup.base_url)
    client = gateway.client(gateway.account("nia"))
    assert deployment_state(gateway, PRIMARY)["state"] == "closed"
    assert admin_health(gateway).json()["models"]["coder"]["status"] == "live"

    primary.default = Script(status=503)
    for _ in range(3):  # three consecutive failures open the circuit; the backup answers each time
        assert client.chat.completions.create(model="coder", messages=MESSAGES).choices[0].message.content \
            == "Answer from the backup."
    opened = time.monotonic()
    assert len(primary.requests) == 3
    state = deployment_state(gateway, PRIMARY)
    assert state["state"] == "open" and state["consecutive_failures"] == 3 and 0 < state["retry_in_s"] <= COOLDOWN
    assert admin_health(gateway).json()["models"]["coder"]["status"] == "degraded"
    assert gateway.runtime.health.status([PRIMARY, BACKUP]) == "degraded"

    for _ in range(5):  # open: skipped without a network call
        client.chat.completions.create(model="coder", messages=MESSAGES)
    assert time.monotonic() - opened < COOLDOWN, "the test machine was too slow to observe the open state"
    assert len(primary.requests) == 3 and len(backup.requests) == 8
    skipped = gateway.charges("nia")[-1]
    assert attempts_of(skipped) == [{"deployment": PRIMARY, "error": "circuit_open"}]

    primary.default = Script(text="The primary is back.")
    time.sleep(COOLDOWN + 0.1)
    assert deployment_state(gateway, PRIMARY)["state"] == "half_open"
    probe = client.chat.completions.create(model="coder", messages=MESSAGES)
    assert probe.choices[0].message.content == "The primary is back."
    assert deployment_state(gateway, PRIMARY)["state"] == "closed"
    assert admin_health(gateway).json()["models"]["coder"]["status"] == "live"
    client.chat.completions.create(model="coder", messages=MESSAGES)
    assert len(primary.requests) == 5 and len(backup.requests) == 8


def test_failed_probe_reopens_the_circuit(upstreams: tuple[FakeOpenAI, FakeOpenAI],
                                          make_gateway: Callable[[str], Gateway]) -> None:
    primary, backup = upstreams
    gateway = start_gateway(make_gateway, primary.base_url, backup.base_url)
    client = gateway.client(gateway.account("ole"))
    primary.default = Script(status=500)
    for _ in range(3):
        client.chat.completions.create(model="coder", messages=MESSAGES)
    time.sleep(COOLDOWN + 0.1)
    client.chat.completions.create(model="coder", messages=MESSAGES)  # the probe fails: open again
    assert len(primary.requests) == 4
    assert deployment_state(gateway, PRIMARY)["state"] == "open"
    client.chat.completions.create(model="coder", messages=MESSAGES)
    assert len(primary.requests) == 4


def test_every_circuit_open_is_503_with_retry_after(upstreams: tuple[FakeOpenAI, FakeOpenAI],
                                                   make_gateway: Callable[[str], Gateway]) -> None:
    primary, backup = upstreams
    gateway = start_gateway(make_gateway, primary.base_url, backup.base_url)
    gateway.runtime.health.policy = CircuitConfig(consecutive_failures=1, cooldown=20)  # one failure opens for 20 s
    primary.default = backup.default = Script(status=503)
    key = gateway.account("pam")
    first = http.post(f"{gateway.base_url}/chat/completions", headers={"Authorization": f"Bearer {key}"},
                      json_body={"model": "coder", "messages": MESSAGES})
    assert first.status_code == 503
    second = http.post(f"{gateway.base_url}/chat/completions", headers={"Authorization": f"Bearer {key}"},
                       json_body={"model": "coder", "messages": MESSAGES})
    assert second.status_code == 503 and second.json()["error"]["code"] == "model_unavailable"
    assert "circuit open" in second.json()["error"]["message"]
    assert 19 <= int(second.headers["retry-after"]) <= 20
    assert len(primary.requests) == 1 and len(backup.requests) == 1
    assert admin_health(gateway).json()["models"]["coder"]["status"] == "down"


def test_admin_health_needs_the_admin_key(upstreams: tuple[FakeOpenAI, FakeOpenAI],
                                          make_gateway: Callable[[str], Gateway]) -> None:
    primary, backup = upstreams
    gateway = start_gateway(make_gateway, primary.base_url, backup.base_url)
    customer = gateway.account("quinn")
    for headers in ({}, {"Authorization": f"Bearer {customer}"}, {"Authorization": "Bearer admin-test-kez"},
                    {"Authorization": "admin-test-key"}):
        reply = http.get(f"{gateway.server.url}/admin/v1/health", headers=headers)
        assert reply.status_code == 401 and reply.json()["error"]["code"] == "invalid_api_key"
    body = admin_health(gateway).json()
    assert body["object"] == "health" and set(body["deployments"]) >= {PRIMARY, BACKUP}
    assert body["circuit_policy"]["cooldown_s"] == COOLDOWN
