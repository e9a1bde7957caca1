"""End to end: a prompt crafted to fool the estimate (issue 14, finding 3) gets a hold that covers
its real cost, a 402, or a 400 context_length_exceeded; never a served answer billed below cost.

The text is 200k characters: cheap prose where the old estimator's 16 evenly spaced windows fell,
letters in rare pairs ("zq", one token per byte in cl100k_base and o200k_base) everywhere else.
The fake upstream bills what it was sent: the real o200k_base count of the prompt."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes.fake_openai import FakeOpenAI, Script
from tests.support import http
from tests.support.gateway import Gateway
from tests.support.real_tokenizer import real_count
from tests.support.sdk import user

CONFIG = """
providers:
  up: {kind: openai, base_url: "%s"}
models:
  big:
    tier: starter
    context: 1000000
    max_output: 16
    price: {input: 10, output: 1}
    deployments: [{provider: up, model: gpt-4o}]
  small:
    tier: starter
    context: 150000
    max_output: 16
    price: {input: 10, output: 1}
    deployments: [{provider: up, model: gpt-4o}]
"""
PROSE = "The quick brown fox jumps over the lazy dog, then naps in the sun. "
SIZE, WINDOW, WINDOWS = 200_000, 1_024, 16


def crafted() -> str:
    chars = list("zq" * (SIZE // 2))
    step = (SIZE - WINDOW) // (WINDOWS - 1)
    for i in range(WINDOWS):
        chars[i * step : i * step + WINDOW] = (PROSE * 16)[:WINDOW]
    return "".join(chars)


TEXT = crafted()
MESSAGES: list[ChatCompletionMessageParam] = [user(TEXT)]
COMPLETION = 7


@pytest.fixture
def gateway(fake_openai: FakeOpenAI, make_gateway: Callable[[str], Gateway]) -> Gateway:
    real = 3 + 3 + real_count("o200k_base", "user") + real_count("o200k_base", TEXT)
    assert real > 180_000  # what the upstream bills
    fake_openai.default = Script(prompt_tokens=real, completion_tokens=COMPLETION)
    return make_gateway(CONFIG % fake_openai.base_url)


def real_cost_usd(fake: FakeOpenAI) -> Decimal:
    return (fake.default.prompt_tokens * Decimal(10) + COMPLETION * Decimal(1)) / 1_000_000


def test_a_balance_below_the_real_cost_is_refused_not_served_at_a_loss(gateway: Gateway,
                                                                       fake_openai: FakeOpenAI) -> None:
    # $1 covers what the old estimate held (~$0.11) but not the real cost (~$1.9).
    key = gateway.account("thief", "starter", "1")
    with pytest.raises(openai.APIStatusError) as refused:
        gateway.client(key).chat.completions.create(model="big", messages=MESSAGES)
    assert refused.value.status_code == 402
    assert refused.value.code == "insufficient_credits"
    assert fake_openai.requests == [] and gateway.charges("thief") == []


def test_the_hold_covers_the_real_cost_and_the_charge_is_full(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    fake_openai.default.latency = 1.0  # time to read the hold while the request is in flight
    key = gateway.account("payer", "starter", "5")
    done: dict[str, Any] = {}
    thread = threading.Thread(target=lambda: done.update(reply=gateway.client(key).chat.completions.create(
        model="big", messages=MESSAGES)))
    thread.start()
    held = 0.0
    deadline = time.monotonic() + 5
    while not held and time.monotonic() < deadline:
        balance = http.get(f"{gateway.base_url}/balance", headers={"Authorization": f"Bearer {key}"}).json()
        held = balance["held_usd"]
    thread.join()
    assert Decimal(str(held)) >= real_cost_usd(fake_openai)
    usage = done["reply"].usage
    assert usage.prompt_tokens == fake_openai.default.prompt_tokens
    [row] = gateway.charges("payer")
    assert Decimal(-row["amount_nano"]) / 1_000_000_000 == real_cost_usd(fake_openai)
    assert not row["note"]  # not capped


def test_past_the_context_the_prompt_is_refused_or_charged_in_full(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    """The context check uses the calibrated estimate (a bound 4x above ordinary text would refuse
    honest long prompts), so a crafted text may get past it; the upstream then refuses it, or
    serves it and the hold (on the bound) covers the full charge."""
    key = gateway.account("long", "starter", "50")
    try:
        reply = gateway.client(key).chat.completions.create(model="small", messages=MESSAGES)
    except openai.BadRequestError as refused:
        assert refused.code == "context_length_exceeded"
        assert gateway.charges("long") == []
        return
    assert reply.usage is not None and reply.usage.prompt_tokens == fake_openai.default.prompt_tokens
    [row] = gateway.charges("long")
    assert Decimal(-row["amount_nano"]) / 1_000_000_000 == real_cost_usd(fake_openai)
    assert not row["note"]


def test_an_honest_long_prompt_fits_its_context(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    """~100k real tokens of prose on a 150k-context model: served (its bytes are ~4x that)."""
    key = gateway.account("honest", "starter", "50")
    prose = PROSE * 6_500  # ~435 KB, ~98k tokens
    reply = gateway.client(key).chat.completions.create(model="small", messages=[{"role": "user", "content": prose}])
    assert reply.choices[0].message.content
