"""Rate limits through the real gateway on loopback, with a fake clock injected into the
limiter via the runtime: exact admissions per tier, Retry-After as the true wait, and the
x-ratelimit-* headers on every answer to an authenticated request."""

from __future__ import annotations

import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.ratelimit_sim import TIERS, FakeClock, count_before, max_in_any_window
from tests.support.gateway import Gateway
from tests.support.http import Reply
from tests.support.keepalive import KeepAlive

PRICE = "{input: 0.10, output: 0.40}"
CONFIG = f"""
tiers:
  starter: {{rank: 1, rpm: 60,  burst_rpm: 120}}
  pro:     {{rank: 2, rpm: 200, burst_rpm: 400}}
  elite:   {{rank: 3, rpm: 500, burst_rpm: 1000}}
providers:
  n: {{kind: noop}}
  down: {{kind: openai, base_url: "http://127.0.0.1:9/v1"}}
models:
  chat: {{tier: starter, context: 1000, price: {PRICE}, provider: n}}
  broken: {{tier: starter, price: {PRICE}, provider: down}}
  big: {{tier: elite, price: {PRICE}, provider: n}}
"""
HELLO = {"model": "chat", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 5}
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def gateway(tmp_path: Path, clock: FakeClock) -> Iterator[Gateway]:
    gw = Gateway(CONFIG, tmp_path, clock=clock).start()
    yield gw
    gw.stop()


def connect(gateway: Gateway, tier: str, name: str | None = None, usd: str | None = "10") -> KeepAlive:
    return KeepAlive(gateway.base_url, gateway.account(name or tier, tier, usd))


def greedy(conn: KeepAlive, clock: FakeClock, duration_s: float) -> list[int]:
    """A client that sends until refused, then waits exactly retry-after-ms (fake time) and goes
    on; returns its admission times in microseconds since the start."""
    start, admitted = clock.us, []
    while clock.us - start < duration_s * 1e6:
        reply = conn.post("/chat/completions", HELLO)
        if reply.status_code == 200:
            admitted.append(clock.us - start)
            continue
        assert reply.status_code == 429, reply.text
        clock.advance(int(reply.headers["retry-after-ms"]) / 1000)
    return admitted


@pytest.mark.parametrize(("tier", "rate", "burst"), TIERS)
def test_admissions_match_the_tier_exactly(gateway: Gateway, clock: FakeClock, tier: str, rate: int,
                                           burst: int) -> None:
    conn = connect(gateway, tier)
    times = greedy(conn, clock, 3 * 60)
    assert count_before(times, 30) == burst // 2  # the burst rate, for 30 s
    assert max_in_any_window(times, 30) == burst // 2  # ... and never more in any 30 s
    for minutes in (1, 2, 3):  # then the sustained rate: the burst's extra is spent once
        assert count_before(times, minutes * 60) == rate * minutes + (burst - rate) // 2
    assert max_in_any_window(times, 60) == rate + (burst - rate) // 2


def test_retry_after_is_the_true_wait(gateway: Gateway, clock: FakeClock) -> None:
    conn = connect(gateway, "starter")  # 60/min: one request a second once the burst is spent
    while conn.post("/chat/completions", HELLO).status_code == 200:
        pass
    clock.advance(0.3337)
    refused = conn.post("/chat/completions", HELLO)
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "rate_limited"
    assert refused.json()["error"]["type"] == "rate_limit_error"
    assert refused.headers["retry-after-ms"] == "667"  # 0.6663 s, rounded up to the ms
    assert refused.headers["retry-after"] == "1"  # whole seconds, rounded up
    assert refused.headers["x-ratelimit-remaining"] == "0"
    clock.advance(0.666299)
    assert conn.post("/chat/completions", HELLO).status_code == 429  # a microsecond early
    clock.advance(0.000001)
    assert conn.post("/chat/completions", HELLO).status_code == 200


def expect_headers(reply: Reply, clock_start_us: int, n: int, rate: int, burst: int) -> None:
    """After the n-th counted request, all at one instant, on a fresh bucket."""
    interval_us = 60_000_000 // rate
    assert reply.headers["x-ratelimit-limit"] == str(rate)
    assert reply.headers["x-ratelimit-remaining"] == str((burst - rate) // 2 + 1 - n)
    assert reply.headers["x-ratelimit-reset"] == str(math.ceil((clock_start_us + n * interval_us) / 1e6))


def test_headers_on_success_stream_and_errors(gateway: Gateway, clock: FakeClock) -> None:
    conn = connect(gateway, "starter")  # 31 at once: remaining 30, 29, ...
    start = clock.us
    answers: list[tuple[int, dict[str, Any] | bytes]] = [
        (200, HELLO),
        (200, dict(HELLO, stream=True)),
        (404, dict(HELLO, model="nope")),
        (403, dict(HELLO, model="big")),
        (400, b"{not json"),
        (400, dict(HELLO, messages=[{"role": "user", "content": "x " * 4000}])),  # over the context
        (503, dict(HELLO, model="broken")),
    ]
    for n, (status, body) in enumerate(answers, 1):
        if isinstance(body, bytes):
            reply = conn.post("/chat/completions", content=body, headers={"Content-Type": "application/json"})
        else:
            reply = conn.post("/chat/completions", body)
        assert reply.status_code == status, reply.text
        expect_headers(reply, start, n, 60, 120)
        if n == 2:
            assert reply.headers["content-type"].startswith("text/event-stream")
            assert reply.content.endswith(b"data: [DONE]\n\n")
    # 402 on another account (its own, fresh bucket): counted and reported all the same.
    broke = connect(gateway, "starter", "broke", usd=None)
    reply = broke.post("/chat/completions", HELLO)
    assert reply.status_code == 402
    expect_headers(reply, start, 1, 60, 120)
    # No key, no bucket: a 401 says nothing about limits.
    reply = KeepAlive(gateway.base_url, "sk-nope").post("/chat/completions", HELLO)
    assert reply.status_code == 401 and "x-ratelimit-limit" not in reply.headers


def test_reads_have_a_bucket_of_their_own(gateway: Gateway, clock: FakeClock) -> None:
    conn = connect(gateway, "starter")
    start = clock.us
    assert conn.post("/chat/completions", HELLO).status_code == 200
    reads = 0
    for path in ("/models", "/models/chat", "/balance", "/usage") * 10:
        reply = conn.get(path)
        if reply.status_code == 429:
            assert reply.headers["retry-after"] == "1" and reply.headers["x-ratelimit-remaining"] == "0"
            break
        reads += 1
        assert reply.status_code == 200 and all(h in reply.headers for h in RATE_HEADERS)
        expect_headers(reply, start, reads, 60, 120)
    assert reads == 31  # the tier's burst, as for chat: reads are limited, not free
    reply = conn.get("/models/big")  # a 404 from a read endpoint is still an authenticated answer
    assert reply.status_code == 429
    # ... and the chat bucket did not move.
    reply = conn.post("/chat/completions", HELLO)
    assert reply.status_code == 200
    expect_headers(reply, start, 2, 60, 120)


def test_overrides_per_key_and_account(gateway: Gateway, clock: FakeClock) -> None:
    key = gateway.account("custom", "starter")
    op = gateway.runtime.operator
    account_id = gateway.run(op.account("custom"))["id"]
    key_id = gateway.run(op.list_keys(account_id))[0]["id"]
    gateway.run(op.set_account_limits("custom", rpm=10, burst_rpm=20))
    gateway.refresh()
    conn = KeepAlive(gateway.base_url, key)
    assert len(greedy(conn, clock, 29.999)) == 10  # 20/min for 30 s
    gateway.run(op.set_key_limits(key_id, rpm=600, burst_rpm=600))  # the key's own wins
    gateway.refresh()
    clock.advance(600)
    reply = conn.post("/chat/completions", HELLO)
    assert reply.headers["x-ratelimit-limit"] == "600" and reply.headers["x-ratelimit-remaining"] == "0"


TPM_CONFIG = f"""
tiers:
  starter: {{rank: 1, rpm: 6000, burst_rpm: 12000, tpm: 1000}}
providers:
  n: {{kind: noop}}
models:
  chat: {{tier: starter, max_output: 4096, price: {PRICE}, provider: n}}
"""


def test_tokens_per_minute(tmp_path: Path, clock: FakeClock) -> None:
    from farebox.tokens import estimate_prompt_tokens

    gateway = Gateway(TPM_CONFIG, tmp_path, clock=clock).start()
    try:
        conn = connect(gateway, "starter")
        body = dict(HELLO, max_tokens=300)
        cost = estimate_prompt_tokens(body) + 300  # the estimate, counted up front
        admitted = 0
        while (reply := conn.post("/chat/completions", body)).status_code == 200:
            admitted += 1
            assert reply.headers["x-ratelimit-remaining-tokens"] == str(1000 - admitted * cost)
            assert reply.headers["x-ratelimit-limit-tokens"] == "1000"
        assert admitted == 1000 // cost
        assert reply.status_code == 429 and "x-ratelimit-remaining" in reply.headers
        # Refill at 1000 tokens/min = 60 ms a token: the missing tokens, exactly.
        wait_us = ((admitted + 1) * cost - 1000) * 60_000
        assert reply.headers["retry-after-ms"] == str(math.ceil(wait_us / 1000))
        clock.advance((wait_us - 1) / 1e6)
        assert conn.post("/chat/completions", body).status_code == 429
        clock.advance(1e-6)
        assert conn.post("/chat/completions", body).status_code == 200
        # Without max_tokens the model's max_output (4096) is assumed: more than a minute's worth.
        reply = conn.post("/chat/completions", {"model": "chat", "messages": HELLO["messages"]})
        assert reply.status_code == 400 and reply.json()["error"]["param"] == "max_tokens"
        assert "x-ratelimit-limit-tokens" in reply.headers and "x-ratelimit-limit" in reply.headers
    finally:
        gateway.stop()
