"""Rate limits on the real clock: the official openai SDK honouring Retry-After, and the
concurrency limit held for exactly as long as a response (or a stream) lasts."""

from __future__ import annotations

import http.client
import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from farebox.ratelimit import MemoryConcurrencyLimiter
from tests.support.gateway import Gateway
from tests.support.keepalive import KeepAlive
from tests.support.sdk import user
from tests.support.waiting import wait_for

CONFIG = """
tiers:
  starter: {rank: 1, rpm: 60, burst_rpm: 60}
  pro: {rank: 2, rpm: 6000, burst_rpm: 12000, max_concurrent: 2}
providers:
  n: {kind: noop}
  slow: {kind: noop, chunk_delay_ms: 150}
models:
  chat: {tier: starter, price: {input: 0.1, output: 0.4}, provider: n}
  slow-chat: {tier: starter, price: {input: 0.1, output: 0.4}, provider: slow}
"""
MESSAGES: list[ChatCompletionMessageParam] = [user("Say something long enough to take a while to stream back.")]


@pytest.fixture
def gateway(tmp_path: Path) -> Iterator[Gateway]:
    gw = Gateway(CONFIG, tmp_path).start()
    yield gw
    gw.stop()


def test_openai_sdk_waits_as_told_then_succeeds(gateway: Gateway) -> None:
    key = gateway.account("paced", "starter")  # 60/min, no burst: one request a second
    seen: list[tuple[str, float, int, dict[str, str]]] = []

    def on_request(request: Any) -> None:
        seen.append(("request", time.monotonic(), 0, {}))

    def on_response(response: Any) -> None:
        seen.append(("response", time.monotonic(), response.status_code, dict(response.headers)))

    http_client = openai.DefaultHttpxClient(event_hooks={"request": [on_request], "response": [on_response]})
    client = gateway.client(key, max_retries=2, http_client=http_client)
    first = client.chat.completions.create(model="chat", messages=MESSAGES, max_tokens=5)
    second = client.chat.completions.create(model="chat", messages=MESSAGES, max_tokens=5)
    assert first.choices[0].message.content and second.choices[0].message.content
    assert [(kind, status) for kind, _, status, _ in seen] == [
        ("request", 0), ("response", 200), ("request", 0), ("response", 429), ("request", 0), ("response", 200)]
    refused = seen[3][3]
    wait = int(refused["retry-after-ms"]) / 1000
    assert 0.5 < wait <= 1.0 and refused["retry-after"] == "1"
    # The SDK slept what retry-after-ms said (it prefers it to Retry-After), no more, no less.
    slept = seen[4][1] - seen[3][1]
    assert wait - 0.01 <= slept <= wait + 0.25
    # ... and the gateway admitted the retry: one second after the first admission, as configured.
    assert seen[5][3]["x-ratelimit-remaining"] == "0"


def open_stream(gateway: Gateway, key: str) -> http.client.HTTPResponse:
    """Start a streaming request and read only its status and headers."""
    host, port = "127.0.0.1", int(gateway.base_url.split(":")[2].split("/")[0])
    conn = http.client.HTTPConnection(host, port, timeout=30)
    conn.request("POST", "/v1/chat/completions", headers={"Authorization": f"Bearer {key}",
                 "Content-Type": "application/json"},
                 body=json.dumps({"model": "slow-chat", "messages": MESSAGES, "stream": True}))
    response = conn.getresponse()
    assert response.status == 200 and response.getheader("x-ratelimit-limit") == "6000"
    return response




def test_concurrency_slots_follow_the_streams(gateway: Gateway) -> None:
    key = gateway.account("busy", "pro")  # at most 2 requests at once
    key_id = gateway.run(gateway.runtime.operator.list_keys("busy"))[0]["id"]
    concurrency = gateway.runtime.limiters.concurrency
    assert isinstance(concurrency, MemoryConcurrencyLimiter)

    def in_flight() -> int:
        return concurrency.in_flight(f"k{key_id}")

    one, two = open_stream(gateway, key), open_stream(gateway, key)
    assert in_flight() == 2
    conn = KeepAlive(gateway.base_url, key)
    refused = conn.post("/chat/completions", {"model": "chat", "messages": MESSAGES})
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "rate_limited"
    assert refused.headers["retry-after"] == "1" and "x-ratelimit-remaining" in refused.headers
    one.close()  # the client goes away mid-stream: its slot comes back
    wait_for(lambda: in_flight() == 1)
    assert conn.post("/chat/completions", {"model": "chat", "messages": MESSAGES}).status_code == 200
    assert in_flight() == 1  # the JSON answer released its slot
    body = two.read()  # the other stream runs to its end
    assert body.endswith(b"data: [DONE]\n\n")
    wait_for(lambda: in_flight() == 0)
    # Errors release too: an unknown model after the slot was taken.
    assert conn.post("/chat/completions", {"model": "nope", "messages": MESSAGES}).status_code == 404
    assert in_flight() == 0
