"""Client disconnects mid-stream, body limits, and other edges of the relay."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from openai import Omit, omit
from openai.types.chat import ChatCompletionStreamOptionsParam

from tests.fakes.fake_openai import FakeOpenAI, Script
from tests.support import http
from tests.support.gateway import Gateway

CONFIG = """
limits: {max_body_bytes: 4096}
providers:
  up: {kind: openai, base_url: "%s"}
models:
  m:
    tier: starter
    price: {input: 1, output: 2}
    deployments: [{provider: up, model: upstream-m}]
"""


@pytest.fixture
def gateway(fake_openai: FakeOpenAI, make_gateway: Callable[[str], Gateway]) -> Gateway:
    return make_gateway(CONFIG % fake_openai.base_url)


def test_abandoned_stream_is_billed_for_what_was_generated_and_upstream_cancelled(
        gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    key = gateway.account("abby", "pro")
    words = " ".join(f"word{i}" for i in range(200))
    fake_openai.default = Script(text=words, chunk_delay=0.02, completion_tokens=400)
    stream = gateway.client(key).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "long"}], stream=True)
    received = ""
    for chunk in stream:
        received += chunk.choices[0].delta.content or "" if chunk.choices else ""
        if received.count("word") >= 5:
            break
    stream.close()
    deadline = time.time() + 5
    while time.time() < deadline and fake_openai.disconnects == 0:
        time.sleep(0.05)
    assert fake_openai.disconnects == 1, "the upstream request was not cancelled"
    gateway.wait_idle()
    charges = [r for r in gateway.ledger("abby") if r["kind"] == "charge"]
    assert len(charges) == 1
    charge = charges[0]
    assert charge["outcome"] == "abandoned"
    assert 0 < charge["completion_tokens"] < 400
    assert charge["amount_nano"] < 0
    assert all(row["ok"] for row in gateway.check())
    balance = gateway.client(key).with_options().get("/balance", cast_to=object)
    assert isinstance(balance, dict) and balance["held_usd"] == 0


def test_body_over_the_limit_is_413(gateway: Gateway) -> None:
    key = gateway.account("bill", "pro")
    big = {"model": "m", "messages": [{"role": "user", "content": "x" * 10_000}]}
    reply = http.post(f"{gateway.base_url}/chat/completions", headers={"Authorization": f"Bearer {key}"},
                      json_body=big)
    assert reply.status_code == 413
    assert reply.json()["error"]["code"] == "request_too_large"


def test_request_id_is_echoed_when_sane(gateway: Gateway) -> None:
    key = gateway.account("cid", "pro")
    body = {"model": "m", "messages": [{"role": "user", "content": "x"}]}
    auth = {"Authorization": f"Bearer {key}"}
    sane = http.post(f"{gateway.base_url}/chat/completions", headers={**auth, "x-request-id": "trace-42"},
                     json_body=body)
    assert sane.headers["x-request-id"] == "trace-42"
    odd = http.post(f"{gateway.base_url}/chat/completions", headers={**auth, "x-request-id": "bad id with spaces"},
                    json_body=body)
    assert odd.headers["x-request-id"] != "bad id with spaces" and len(odd.headers["x-request-id"]) == 24
    assert http.get(f"{gateway.server.url}/health").json() == {"status": "ok"}
    assert http.get(f"{gateway.server.url}/ready").json()["status"] == "ready"


@pytest.mark.parametrize("include_usage", [True, False])
def test_a_slow_stream_relays_each_chunk_as_it_arrives(gateway: Gateway, fake_openai: FakeOpenAI,
                                                       include_usage: bool) -> None:
    """Batching writes must never hold a chunk back waiting for the next one."""
    key = gateway.account("liv", "pro")
    delay = 0.25
    fake_openai.default = Script(text="one two three four", chunk_delay=delay, completion_tokens=4)
    options: ChatCompletionStreamOptionsParam | Omit = {"include_usage": True} if include_usage else omit
    stream = gateway.client(key).chat.completions.create(
        model="m", messages=[{"role": "user", "content": "hi"}], stream=True, stream_options=options)
    arrivals: list[float] = []
    for chunk in stream:
        if chunk.choices and chunk.choices[0].delta.content:
            arrivals.append(time.perf_counter())
    assert len(arrivals) >= 4
    gaps = [later - earlier for earlier, later in zip(arrivals, arrivals[1:], strict=False)]
    # Each word left the upstream `delay` after the one before: it must reach us as spread out.
    assert min(gaps) > delay * 0.6, gaps


def test_finished_streams_reuse_the_upstream_connection(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    """[DONE] often arrives a packet before the end of the HTTP body: the gateway must still read
    that end (off the client's path) and put the connection back in its pool, or every stream
    would open a new upstream connection (a new TLS handshake, against a real provider)."""
    key = gateway.account("mo", "pro")
    fake_openai.default = Script(text="one two", end_gap=0.05)
    client = gateway.client(key)
    for _ in range(4):
        started = time.perf_counter()
        chunks = list(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}],
                                                     stream=True))
        assert chunks and time.perf_counter() - started < 5
        time.sleep(0.15)  # past end_gap: the connection is back in the pool
    assert len(fake_openai.peers) == 4 and len(set(fake_openai.peers)) == 1, fake_openai.peers
