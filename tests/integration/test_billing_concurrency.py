"""No overspend under concurrency and holds released on every path (a ledger that cannot commit:
test_charges_durable.py; charges above the hold: test_charge_bounds.py)."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes.fake_openai import FakeOpenAI, Script
from tests.support.gateway import Gateway
from tests.support.sdk import user
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
        messages: list[ChatCompletionMessageParam] = [user("count to a hundred")]
        try:
            if not stream:
                return await client.chat.completions.create(model="meter", messages=messages,
                                                            max_tokens=MAX_TOKENS)
            chunks = await client.chat.completions.create(model="meter", messages=messages,
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
    # Before the first byte: the upstream had the prompt, which is charged (free here: input costs
    # nothing); tests/integration/test_charge_bounds.py prices it.
    fake_openai.push(Script(latency=1.0))
    with pytest.raises(openai.APITimeoutError):
        gateway.client(key, timeout=0.3).chat.completions.create(
            model="meter", messages=[{"role": "user", "content": "hi"}])
    wait_for(lambda: wallet(gateway, "quitter")[1] == 0 and len(gateway.ledger("quitter")) == 2)
    assert gateway.ledger("quitter")[-1]["outcome"] == "abandoned"
    # Mid-stream: charged for what was generated until then.
    fake_openai.push(Script(text=" ".join(["word"] * 40), chunk_delay=0.05, send_usage=False))
    stream = gateway.client(key).chat.completions.create(
        model="meter", messages=[{"role": "user", "content": "hi"}], stream=True)
    seen = [next(iter(stream)) for _ in range(3)]
    assert seen[-1].choices
    stream.close()
    wait_for(lambda: len(gateway.ledger("quitter")) == 3)
    gateway.wait_idle()
    charge = gateway.ledger("quitter")[-1]
    assert charge["outcome"] == "abandoned" and 0 < charge["completion_tokens"] < 40
    assert wallet(gateway, "quitter") == (1_000_000_000 + charge["amount_nano"], 0)
    assert all(r["ok"] for r in gateway.check())
