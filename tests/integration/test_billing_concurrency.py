"""No overspend under concurrency, holds released on every path, and the ledger failing closed."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import openai
import pytest

from tests.support import http
from tests.support.fake_openai import FakeOpenAI, Script
from tests.support.gateway import Gateway
from tests.support.waiting import wait_for

# Input is free, so the worst-case hold is max_tokens x output price, whatever the prompt:
# 100 tokens x $1/1M = $0.0001 = 100,000 nano-USD.
CONFIG = """
providers:
  up: {kind: openai, base_url: "%s"}
models:
  meter:
    tier: starter
    context: 8192
    max_output: 4096
    price: {input: 0, output: 1.0}
    deployments: [{provider: up, model: upstream-meter}]
"""
MAX_TOKENS = 100
HOLD_NANO = MAX_TOKENS * 1_000
MESSAGE = re.compile(r"^Balance \$\d+\.\d{2,9} is below the estimated cost \$\d+\.\d{2,9} for this request\.$")


@pytest.fixture
def gateway(fake_openai: FakeOpenAI, make_gateway: Callable[[str], Gateway]) -> Gateway:
    return make_gateway(CONFIG % fake_openai.base_url)


def account_id(gateway: Gateway, name: str) -> int:
    return int(gateway.run(gateway.runtime.operator.account(name))["id"])


def wallet(gateway: Gateway, name: str) -> tuple[int, int]:
    """(balance, held) in nano-USD as the gateway holds them in memory."""
    return gateway.runtime.wallet.balance(account_id(gateway, name))


async def fire(gateway: Gateway, key: str, n: int, stream: bool) -> list[Any]:
    client = openai.AsyncOpenAI(base_url=gateway.base_url, api_key=key, max_retries=0, timeout=30)

    async def one() -> Any:
        messages = [{"role": "user", "content": "count to a hundred"}]
        try:
            if not stream:
                return await client.chat.completions.create(model="meter", messages=messages,  # type: ignore
                                                            max_tokens=MAX_TOKENS)
            chunks = await client.chat.completions.create(model="meter", messages=messages,  # type: ignore
                                                          max_tokens=MAX_TOKENS, stream=True,
                                                          stream_options={"include_usage": True})
            return [chunk async for chunk in chunks]
        except openai.APIStatusError as exc:
            return exc

    try:
        return list(await asyncio.gather(*(one() for _ in range(n))))
    finally:
        await client.close()


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_credit_for_ten_requests_serves_at_most_ten_of_fifty(gateway: Gateway, fake_openai: FakeOpenAI,
                                                             stream: bool) -> None:
    # Every answer costs exactly its worst case, so the credit covers exactly ten, in any order.
    fake_openai.default = Script(text="one two three", prompt_tokens=20, completion_tokens=MAX_TOKENS,
                                 latency=0.3, chunk_delay=0.01)
    key = gateway.account("ten", "pro", f"{10 * HOLD_NANO / 1e9:.9f}")
    results = asyncio.run(fire(gateway, key, 50, stream))
    ok = [r for r in results if not isinstance(r, Exception)]
    refused = [r for r in results if isinstance(r, Exception)]
    assert len(ok) == 10 and len(refused) == 40
    for exc in refused:
        assert isinstance(exc, openai.APIStatusError) and exc.status_code == 402
        error = exc.body if isinstance(exc.body, dict) and "code" in exc.body else exc.response.json()["error"]
        assert error["code"] == "insufficient_credits" and error["type"] == "insufficient_quota"
        assert MESSAGE.match(error["message"]), error["message"]
        assert error["message"] == "Balance $0.00 is below the estimated cost $0.0001 for this request."
    for result in ok:
        usage = result.usage if not stream else result[-1].usage
        assert usage.model_extra["credits_used_usd"] == HOLD_NANO / 1e9
    gateway.wait_idle()
    rows = gateway.ledger("ten")
    assert min(r["balance_after_nano"] for r in rows) >= 0
    assert [r["amount_nano"] for r in rows if r["kind"] == "charge"] == [-HOLD_NANO] * 10
    assert wallet(gateway, "ten") == (0, 0)
    assert all(r["ok"] for r in gateway.check())


def test_usage_above_the_hold_is_capped_at_the_balance(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    # The upstream reports more than the estimate allowed for and nothing is left to cover it.
    fake_openai.default = Script(prompt_tokens=5, completion_tokens=MAX_TOKENS + 50)
    key = gateway.account("tight", "pro", f"{HOLD_NANO / 1e9:.9f}")
    reply = gateway.client(key).chat.completions.create(
        model="meter", messages=[{"role": "user", "content": "hi"}], max_tokens=MAX_TOKENS)
    assert reply.usage is not None and reply.usage.model_extra["credits_used_usd"] == HOLD_NANO / 1e9
    charge = [r for r in gateway.ledger("tight") if r["kind"] == "charge"][0]
    assert charge["amount_nano"] == -HOLD_NANO and charge["completion_tokens"] == MAX_TOKENS + 50
    assert charge["note"] == "capped at the available balance; exact cost $0.00015"
    assert wallet(gateway, "tight") == (0, 0)
    # With money to spare, the same overrun is charged exactly.
    key = gateway.account("roomy", "pro", "1")
    reply = gateway.client(key).chat.completions.create(
        model="meter", messages=[{"role": "user", "content": "hi"}], max_tokens=MAX_TOKENS)
    assert reply.usage is not None and reply.usage.model_extra["credits_used_usd"] == 0.00015
    assert wallet(gateway, "roomy") == (1_000_000_000 - 150_000, 0)


def test_ledger_failure_withholds_the_answer_and_releases_the_hold(
        gateway: Gateway, fake_openai: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    key = gateway.account("dbdown", "pro", "1")

    async def broken(rows: Any) -> Any:
        raise OSError("disk I/O error")

    monkeypatch.setattr(gateway.runtime.repo, "append_charges_marked", broken)
    client = gateway.client(key)
    with pytest.raises(openai.APIStatusError) as caught:
        client.chat.completions.create(model="meter", messages=[{"role": "user", "content": "hi"}])
    assert caught.value.status_code == 503
    body = caught.value.response.json()
    assert set(body) == {"error"} and body["error"]["code"] == "service_unavailable"
    assert "choices" not in caught.value.response.text
    # A stream is cut with an error event in place of the usage chunk, never the usage.
    reply = http.post(f"{gateway.base_url}/chat/completions", headers={"Authorization": f"Bearer {key}"},
                      json_body={"model": "meter", "stream": True, "stream_options": {"include_usage": True},
                                 "messages": [{"role": "user", "content": "hi"}]})
    assert reply.status_code == 200
    events = [line[6:] for line in reply.text.splitlines() if line.startswith("data: ")]
    assert events[-1] == "[DONE]" and '"service_unavailable"' in events[-2]
    assert "credits_used_usd" not in reply.text
    assert wallet(gateway, "dbdown") == (1_000_000_000, 0)
    monkeypatch.undo()
    client.chat.completions.create(model="meter", messages=[{"role": "user", "content": "hi"}])
    assert [r["kind"] for r in gateway.ledger("dbdown")] == ["topup", "charge"]
    assert all(r["ok"] for r in gateway.check())


def test_upstream_failure_is_not_charged(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    key = gateway.account("fails", "pro", "1")
    client = gateway.client(key)
    fake_openai.push(Script(status=400))  # a client error: passed through, not retried
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="meter", messages=[{"role": "user", "content": "hi"}])
    fake_openai.default = Script(status=500)  # every retry fails too
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(model="meter", messages=[{"role": "user", "content": "hi"}])
    fake_openai.default = Script(status=503)
    with pytest.raises(openai.APIStatusError):
        client.chat.completions.create(model="meter", messages=[{"role": "user", "content": "hi"}], stream=True)
    assert [r["kind"] for r in gateway.ledger("fails")] == ["topup"]
    assert wallet(gateway, "fails") == (1_000_000_000, 0)




def test_client_disconnects_release_the_hold(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    key = gateway.account("quitter", "pro", "1")
    # Before the first byte: nothing was generated for the client, nothing is charged.
    fake_openai.push(Script(latency=1.0))
    with pytest.raises(openai.APITimeoutError):
        gateway.client(key, timeout=0.3).chat.completions.create(
            model="meter", messages=[{"role": "user", "content": "hi"}])
    wait_for(lambda: wallet(gateway, "quitter")[1] == 0)
    # Mid-stream: charged for what was generated until then.
    fake_openai.push(Script(text=" ".join(["word"] * 40), chunk_delay=0.05, send_usage=False))
    stream = gateway.client(key).chat.completions.create(
        model="meter", messages=[{"role": "user", "content": "hi"}], stream=True)
    seen = [next(iter(stream)) for _ in range(3)]
    assert seen[-1].choices
    stream.close()
    wait_for(lambda: len(gateway.ledger("quitter")) == 2)
    gateway.wait_idle()
    charge = gateway.ledger("quitter")[-1]
    assert charge["outcome"] == "abandoned" and 0 < charge["completion_tokens"] < 40
    assert wallet(gateway, "quitter") == (1_000_000_000 + charge["amount_nano"], 0)
    assert all(r["ok"] for r in gateway.check())
