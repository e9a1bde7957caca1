"""Failover before the first byte: each way an upstream fails moves the request to a healthy
deployment, which answers and is the only one billed."""

from __future__ import annotations

import time
from collections.abc import Callable

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes.fake_openai import FakeOpenAI, Script
from tests.integration.resilience import (
    BACKUP,
    IN_NANO,
    OUT_NANO,
    PRIMARY,
    attempts_of,
    closed_port_url,
    sse_text,
    start_gateway,
)
from tests.spec import assert_sse_valid, assert_valid
from tests.support import http
from tests.support.gateway import Gateway
from tests.support.sdk import extras, user

MESSAGES: list[ChatCompletionMessageParam] = [user("Write a haiku about failover.")]

# (script for the primary, status and error code recorded for its attempt)
FAILURES = {
    "hang_before_headers": (Script(hang=3), 504, "upstream_timeout"),
    "429_retry_after": (Script(status=429, headers={"Retry-After": "1"}), 429, "rate_limited"),
    "500": (Script(status=500), 503, "model_unavailable"),
    "503": (Script(status=503), 503, "model_unavailable"),
    "529_overloaded": (Script(status=529, error_body={"type": "error", "error": {
        "type": "overloaded_error", "message": "Overloaded"}}), 503, "model_unavailable"),
    "malformed_json": (Script(malformed=True), 502, "bad_upstream_response"),
    "dropped_connection": (Script(drop_connection=True), 502, "upstream_connection_error"),
}
# Stream failures before the first chunk (nothing reached the client yet).
STREAM_FAILURES = {
    "hang_before_headers": (Script(hang=3), 504, "upstream_timeout"),
    "hang_before_first_chunk": (Script(hang_after_chunks=0), 504, "upstream_timeout"),
    "cut_before_first_chunk": (Script(cut_after_chunks=0), 502, "upstream_connection_error"),
    "ended_without_data": (Script(end_after_chunks=0), 502, "upstream_stream_cut"),
    "503": (Script(status=503), 503, "model_unavailable"),
    "529_overloaded": (Script(status=529), 503, "model_unavailable"),
    "dropped_connection": (Script(drop_connection=True), 502, "upstream_connection_error"),
}


def assert_answered_by_backup(gateway: Gateway, account: str, primary: FakeOpenAI, backup: FakeOpenAI,
                              status: int, code: str) -> None:
    assert len(primary.requests) == 1 and len(backup.requests) == 1
    assert backup.requests[0]["model"] == "m-backup"
    rows = gateway.charges(account)
    assert len(rows) == 1, rows
    row = rows[0]
    assert row["deployment"] == BACKUP and row["provider"] == "backup" and row["model_used"] == "coder"
    assert row["amount_nano"] == -(11 * IN_NANO + 7 * OUT_NANO)  # the backup's usage only
    assert attempts_of(row)[0]["deployment"] == PRIMARY
    assert (attempts_of(row)[0]["status"], attempts_of(row)[0]["error"]) == (status, code)
    assert all(r["ok"] for r in gateway.check())


@pytest.mark.parametrize("name", list(FAILURES))
def test_non_streaming_fails_over(name: str, upstreams: tuple[FakeOpenAI, FakeOpenAI],
                                  make_gateway: Callable[[str], Gateway]) -> None:
    primary, backup = upstreams
    gateway = start_gateway(make_gateway, primary.base_url, backup.base_url)
    script, status, code = FAILURES[name]
    primary.default = script
    raw = gateway.client(gateway.account("ann")).chat.completions.with_raw_response.create(
        model="coder", messages=MESSAGES)
    resp = raw.parse()
    assert resp.choices[0].message.content == "Answer from the backup."
    assert resp.usage is not None and extras(resp.usage)["model_used"] == "coder"
    assert round(extras(resp.usage)["credits_used_usd"] * 1e9) == 11 * IN_NANO + 7 * OUT_NANO
    assert_valid(raw.http_response.json(), "CreateChatCompletionResponse")
    assert_answered_by_backup(gateway, "ann", primary, backup, status, code)


def test_refused_connection_fails_over(upstreams: tuple[FakeOpenAI, FakeOpenAI],
                                       make_gateway: Callable[[str], Gateway]) -> None:
    _, backup = upstreams
    gateway = start_gateway(make_gateway, closed_port_url(), backup.base_url)
    client = gateway.client(gateway.account("ann"))
    assert client.chat.completions.create(model="coder", messages=MESSAGES).choices[0].message.content \
        == "Answer from the backup."
    chunks = list(client.chat.completions.create(model="coder", messages=MESSAGES, stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip() == "Answer from the backup."
    rows = gateway.charges("ann")
    assert [r["deployment"] for r in rows] == [BACKUP, BACKUP]
    assert [attempts_of(r)[0]["error"] for r in rows] == ["upstream_unreachable"] * 2


@pytest.mark.parametrize("name", list(STREAM_FAILURES))
def test_streaming_fails_over_before_first_byte(name: str, upstreams: tuple[FakeOpenAI, FakeOpenAI],
                                                make_gateway: Callable[[str], Gateway]) -> None:
    primary, backup = upstreams
    gateway = start_gateway(make_gateway, primary.base_url, backup.base_url)
    script, status, code = STREAM_FAILURES[name]
    primary.default = script
    key = gateway.account("bea")
    reply = http.post(f"{gateway.base_url}/chat/completions", headers={"Authorization": f"Bearer {key}"},
                      json_body={"model": "coder", "messages": MESSAGES, "stream": True,
                                 "stream_options": {"include_usage": True}})
    assert reply.status_code == 200
    assert_sse_valid(reply.text)
    assert sse_text(reply.text).strip() == "Answer from the backup."
    assert reply.text.endswith("data: [DONE]\n\n") and '"error"' not in reply.text
    assert_answered_by_backup(gateway, "bea", primary, backup, status, code)


def test_client_error_passes_through_without_retry(upstreams: tuple[FakeOpenAI, FakeOpenAI],
                                                   make_gateway: Callable[[str], Gateway]) -> None:
    primary, backup = upstreams
    gateway = start_gateway(make_gateway, primary.base_url, backup.base_url)
    primary.default = Script(status=400, error_body={"error": {
        "message": "'messages[0].name' must match ^[a-zA-Z0-9_-]+$", "type": "invalid_request_error",
        "param": "messages", "code": None}})
    key = gateway.account("cid")
    with pytest.raises(openai.BadRequestError) as bad:
        gateway.client(key).chat.completions.create(model="coder", messages=MESSAGES)
    assert "must match ^[a-zA-Z0-9_-]+$" in bad.value.message
    assert bad.value.code == "invalid_request_error"
    assert_valid(bad.value.response.json(), "ErrorResponse")
    assert len(primary.requests) == 1 and backup.requests == []
    assert gateway.charges("cid") == []
    assert gateway.runtime.health.state(PRIMARY) == "closed"


def test_every_deployment_failing_is_503_naming_what_was_tried(
        upstreams: tuple[FakeOpenAI, FakeOpenAI], make_gateway: Callable[[str], Gateway]) -> None:
    primary, backup = upstreams
    gateway = start_gateway(make_gateway, primary.base_url, backup.base_url)
    primary.default = Script(status=503)
    backup.default = Script(status=500)
    key = gateway.account("dee")
    reply = http.post(f"{gateway.base_url}/chat/completions", headers={"Authorization": f"Bearer {key}"},
                      json_body={"model": "coder", "messages": MESSAGES})
    assert reply.status_code == 503
    error = reply.json()["error"]
    assert error["code"] == "model_unavailable"
    assert_valid(reply.json(), "ErrorResponse")
    # max_attempts 4 over two deployments: each tried, then each retried after a backoff
    assert len(primary.requests) == 2 and len(backup.requests) == 2
    assert error["message"].count(PRIMARY) == 2 and error["message"].count(BACKUP) == 2
    for secret in ("primary-secret", "backup-secret", "127.0.0.1", "http"):
        assert secret not in error["message"]
    assert gateway.charges("dee") == []
    assert all(r["ok"] for r in gateway.check())


def test_short_retry_after_is_honoured_on_the_only_deployment(
        upstreams: tuple[FakeOpenAI, FakeOpenAI], make_gateway: Callable[[str], Gateway]) -> None:
    primary, backup = upstreams
    gateway = start_gateway(make_gateway, primary.base_url, backup.base_url)
    primary.push(Script(status=429, headers={"Retry-After": "1"}))
    client = gateway.client(gateway.account("eve"))
    started = time.perf_counter()
    resp = client.chat.completions.create(model="solo", messages=MESSAGES)
    assert time.perf_counter() - started >= 0.95
    assert resp.choices[0].message.content == primary.default.text
    assert len(primary.requests) == 2


def test_long_retry_after_moves_on_and_is_passed_to_the_client(
        upstreams: tuple[FakeOpenAI, FakeOpenAI], make_gateway: Callable[[str], Gateway]) -> None:
    primary, backup = upstreams
    gateway = start_gateway(make_gateway, primary.base_url, backup.base_url)
    primary.default = Script(status=429, headers={"Retry-After": "30"})
    key = gateway.account("fox")
    started = time.perf_counter()
    reply = http.post(f"{gateway.base_url}/chat/completions", headers={"Authorization": f"Bearer {key}"},
                      json_body={"model": "solo", "messages": MESSAGES})
    assert time.perf_counter() - started < 2
    assert reply.status_code == 503 and reply.headers["retry-after"] == "30"
    assert len(primary.requests) == 1


def test_deadline_bounds_a_hanging_stream(upstreams: tuple[FakeOpenAI, FakeOpenAI],
                                          make_gateway: Callable[[str], Gateway]) -> None:
    primary, backup = upstreams
    text = ("failover: {max_attempts: 5, deadline: 0.8}\n"
            f"providers:\n  primary: {{kind: openai, base_url: \"{primary.base_url}\", timeouts: {{first_byte: 30}}}}\n"
            "models:\n  solo: {tier: starter, price: {input: 1, output: 1}, deployments: [{provider: primary, "
            "model: m}]}\n")
    gateway = make_gateway(text)
    primary.default = Script(hang=10)
    key = gateway.account("gil")
    started = time.perf_counter()
    reply = http.post(f"{gateway.base_url}/chat/completions", headers={"Authorization": f"Bearer {key}"},
                      json_body={"model": "solo", "messages": MESSAGES, "stream": True})
    elapsed = time.perf_counter() - started
    assert reply.status_code == 503 and reply.json()["error"]["code"] == "model_unavailable"
    assert 0.7 <= elapsed < 2.5, elapsed
    assert len(primary.requests) == 1


def test_smart_route_falls_over_to_the_next_cheapest_model(
        upstreams: tuple[FakeOpenAI, FakeOpenAI], make_gateway: Callable[[str], Gateway]) -> None:
    primary, backup = upstreams
    gateway = start_gateway(make_gateway, primary.base_url, backup.base_url,
                            extra="tiers:\n  starter: {rank: 1, rpm: 6000, smart_route: [cheap, pricier]}\n")
    primary.default = Script(status=503)
    client = gateway.client(gateway.account("hal", "starter"))
    resp = client.chat.completions.create(model="smart-route", messages=MESSAGES)
    assert resp.model == "smart-route"
    assert resp.usage is not None and extras(resp.usage)["model_used"] == "pricier"
    assert [r["model"] for r in primary.requests] == ["m-cheap"]
    assert [r["model"] for r in backup.requests] == ["m-pricier"]
    row = gateway.charges("hal")[0]
    assert (row["model_used"], row["deployment"]) == ("pricier", "backup/m-pricier")
    assert row["amount_nano"] == -(11 * 1000 + 7 * 2000)  # pricier: 1.00 / 2.00 USD per 1M tokens
    assert attempts_of(row)[0] == {"deployment": "primary/m-cheap", "status": 503, "error": "model_unavailable",
                                   "ms": attempts_of(row)[0]["ms"]}
