"""After the first byte: an upstream failure ends the stream with an OpenAI-style error event and
[DONE], only what was delivered is billed; and the timeouts that govern streams fire (or not)."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from openai.types.chat import ChatCompletionMessageParam

from farebox.tokens import estimate_text_tokens
from tests.fakes.fake_openai import FakeOpenAI, Script
from tests.integration.resilience import (
    IN_NANO,
    OUT_NANO,
    PRIMARY,
    sse_events,
    sse_text,
    start_gateway,
)
from tests.spec import assert_sse_valid
from tests.support import http
from tests.support.gateway import Gateway
from tests.support.sdk import user

MESSAGES: list[ChatCompletionMessageParam] = [user("Count to eight.")]
WORDS = "one two three four five six seven eight"

# (script, the error code the client sees, a word of its message). Chunk 0 is the role chunk,
# so failing at chunk 3 means "one two " was delivered.
MID_STREAM = {
    "hang_mid_stream": (Script(text=WORDS, hang_after_chunks=3), "upstream_timeout", "idle"),
    "cut_mid_stream": (Script(text=WORDS, cut_after_chunks=3), "upstream_connection_error", "connection"),
    "ended_without_done": (Script(text=WORDS, end_after_chunks=3), "upstream_stream_cut", "ended"),
}


def stream(gateway: Gateway, key: str, model: str = "coder", include_usage: bool = True) -> http.Reply:
    body = {"model": model, "messages": MESSAGES, "stream": True}
    if include_usage:
        body["stream_options"] = {"include_usage": True}
    return http.post(f"{gateway.base_url}/chat/completions", headers={"Authorization": f"Bearer {key}"},
                     json_body=body)


@pytest.mark.parametrize("name", list(MID_STREAM))
@pytest.mark.parametrize("include_usage", [True, False])
def test_failure_after_first_byte_ends_with_error_and_bills_what_was_delivered(
        name: str, include_usage: bool, upstreams: tuple[FakeOpenAI, FakeOpenAI],
        make_gateway: Callable[[str], Gateway]) -> None:
    primary, backup = upstreams
    gateway = start_gateway(make_gateway, primary.base_url, backup.base_url)
    script, code, word = MID_STREAM[name]
    primary.default = script
    key = gateway.account("ida")
    started = time.perf_counter()
    reply = stream(gateway, key, include_usage=include_usage)
    elapsed = time.perf_counter() - started
    assert reply.status_code == 200
    assert elapsed < 0.5 + 1.0  # idle is 0.5 s; nothing waits for the 3600 s hang
    assert reply.text.endswith("data: [DONE]\n\n")
    events = sse_events(reply.text)
    assert events[-1]["error"]["code"] == code and word in events[-1]["error"]["message"]
    assert set(events[-1]["error"]) == {"message", "type", "param", "code"}
    assert_sse_valid(reply.text.replace(reply.text[reply.text.rindex("data: {\"error\""):], "data: [DONE]\n\n"))
    delivered = sse_text(reply.text)
    assert delivered == "one two "
    assert backup.requests == []  # after the first byte there is no failover
    rows = gateway.charges("ida")
    assert len(rows) == 1
    row = rows[0]
    assert row["outcome"] == "stream_error" and row["deployment"] == PRIMARY
    assert row["completion_tokens"] == estimate_text_tokens(delivered)
    assert row["amount_nano"] == -(row["prompt_tokens"] * IN_NANO + row["completion_tokens"] * OUT_NANO)
    assert gateway.runtime.health.snapshot()[PRIMARY]["failures"] == 1
    assert all(r["ok"] for r in gateway.check())


def test_malformed_event_mid_stream(upstreams: tuple[FakeOpenAI, FakeOpenAI],
                                    make_gateway: Callable[[str], Gateway]) -> None:
    primary, backup = upstreams
    gateway = start_gateway(make_gateway, primary.base_url, backup.base_url)
    primary.default = Script(text="alpha beta", malformed=True)
    reply = stream(gateway, gateway.account("jon"))
    assert sse_events(reply.text)[-1]["error"]["code"] == "bad_upstream_response"
    assert sse_text(reply.text) == "alpha beta "
    assert reply.text.endswith("data: [DONE]\n\n")
    assert gateway.charges("jon")[0]["completion_tokens"] == estimate_text_tokens("alpha beta ")


def test_slow_but_steady_stream_is_not_cut_by_first_byte_or_idle(
        upstreams: tuple[FakeOpenAI, FakeOpenAI], make_gateway: Callable[[str], Gateway]) -> None:
    primary, backup = upstreams
    gateway = start_gateway(make_gateway, primary.base_url, backup.base_url,
                            timeouts="{connect: 1, first_byte: 0.4, idle: 0.4, total: 10}")
    # 10 chunks 0.2 s apart: 2 s in all, far past first_byte, every gap under idle
    primary.default = Script(text=WORDS + " nine", chunk_delay=0.2, completion_tokens=9)
    key = gateway.account("kim")
    reply = stream(gateway, key)
    assert '"error"' not in reply.text
    assert_sse_valid(reply.text)
    assert sse_text(reply.text).strip() == WORDS + " nine"
    assert gateway.charges("kim")[0]["completion_tokens"] == 9


def test_slow_non_streaming_reply_is_not_cut_by_first_byte_or_idle(
        upstreams: tuple[FakeOpenAI, FakeOpenAI], make_gateway: Callable[[str], Gateway]) -> None:
    primary, backup = upstreams
    gateway = start_gateway(make_gateway, primary.base_url, backup.base_url,
                            timeouts="{connect: 1, first_byte: 0.3, idle: 0.3, total: 10}")
    primary.default = Script(latency=0.8)  # a long generation: nothing is sent until it is done
    resp = gateway.client(gateway.account("lou")).chat.completions.create(model="coder", messages=MESSAGES)
    assert resp.choices[0].message.content == primary.default.text
    assert backup.requests == []


def test_total_timeout_ends_a_stream_that_never_stalls(
        upstreams: tuple[FakeOpenAI, FakeOpenAI], make_gateway: Callable[[str], Gateway]) -> None:
    primary, backup = upstreams
    gateway = start_gateway(make_gateway, primary.base_url, backup.base_url,
                            timeouts="{connect: 1, first_byte: 0.5, idle: 0.5, total: 1}")
    primary.default = Script(text=" ".join(["word"] * 30), chunk_delay=0.1)  # ~3 s of steady chunks
    key = gateway.account("max")
    started = time.perf_counter()
    reply = stream(gateway, key)
    assert 0.9 <= time.perf_counter() - started < 2.0
    error = sse_events(reply.text)[-1]["error"]
    assert error["code"] == "upstream_timeout" and "total" in error["message"]
    assert reply.text.endswith("data: [DONE]\n\n")
    delivered = sse_text(reply.text)
    assert 5 <= delivered.count("word") < 30
    assert gateway.charges("max")[0]["completion_tokens"] == estimate_text_tokens(delivered)
