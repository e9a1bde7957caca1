"""Every request the upstream worked on is charged in full: a cost above the hold is an overrun,
charged and recorded (never capped), and a client that leaves before the first byte still pays
for the prompt the upstream received (issue 14, findings 9 and 11)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import openai
import pytest

from farebox.errors import ServiceUnavailable
from farebox.pipeline.settle import OVERRUNS
from farebox.routing.needs import request_needs
from tests.fakes.fake_openai import FakeOpenAI, Script
from tests.integration.test_billing_concurrency import wallet
from tests.support.gateway import TIERS, Gateway
from tests.support.processes import cli
from tests.support.sdk import extras
from tests.support.waiting import wait_for

# The hold is the prompt bound x $1/1M + 100 tokens x $1/1M; the upstream may report more.
CONFIG = """
providers:
  up: {kind: openai, base_url: "%s"}
models:
  meter:
    tier: starter
    context: 100000
    max_output: 4096
    price: {input: 1.0, output: 1.0}
    deployments: [{provider: up, model: upstream-meter}]
"""
MAX_TOKENS = 100
PROMPT = "hi"


@pytest.fixture
def gateway(fake_openai: FakeOpenAI, make_gateway: Callable[[str], Gateway]) -> Gateway:
    return make_gateway(CONFIG % fake_openai.base_url)


def hold_of(prompt: str) -> int:
    """The hold the gateway takes for one `meter` request with `prompt` and MAX_TOKENS."""
    needs = request_needs({"model": "meter", "messages": [{"role": "user", "content": prompt}],
                           "max_tokens": MAX_TOKENS})
    return (max(needs.prompt_upper, needs.prompt_tokens) + MAX_TOKENS) * 1000  # the prompt bound


def estimate_of(prompt: str) -> int:
    return request_needs({"model": "meter", "messages": [{"role": "user", "content": prompt}]}).prompt_tokens


# More output than the hold of a PROMPT request covers, prompt bound included.
OVER_THE_HOLD = hold_of(PROMPT) // 1000 + 50


def test_cost_above_the_hold_is_charged_in_full_and_refuses_the_next_request(
        gateway: Gateway, fake_openai: FakeOpenAI, tmp_path: Path) -> None:
    hold = hold_of(PROMPT)
    # The upstream reports 50 more output tokens than the hold allowed for; no credit to spare.
    fake_openai.default = Script(prompt_tokens=hold // 1000 - MAX_TOKENS, completion_tokens=MAX_TOKENS + 50)
    key = gateway.account("tight", "pro", f"{hold / 1e9:.9f}")
    before = OVERRUNS.count, OVERRUNS.nano
    client = gateway.client(key)
    reply = client.chat.completions.create(model="meter", messages=[{"role": "user", "content": PROMPT}],
                                           max_tokens=MAX_TOKENS)
    cost = hold + 50_000
    assert round(extras(reply.usage)["credits_used_usd"] * 1e9) == cost
    charge = gateway.charges("tight")[0]
    assert charge["amount_nano"] == -cost and charge["overrun_nano"] == 50_000
    assert charge["note"] == "overrun: exceeded the hold by $0.00005"
    assert charge["balance_after_nano"] == -50_000  # below zero by exactly this request's overrun
    assert wallet(gateway, "tight") == (-50_000, 0)
    assert (OVERRUNS.count, OVERRUNS.nano) == (before[0] + 1, before[1] + 50_000)
    # The account is refused until it is topped up above zero.
    with pytest.raises(openai.APIStatusError) as refused:
        client.chat.completions.create(model="meter", messages=[{"role": "user", "content": PROMPT}],
                                       max_tokens=MAX_TOKENS)
    assert refused.value.status_code == 402 and refused.value.code == "insufficient_credits"
    assert len(fake_openai.requests) == 1
    # `farebox db check` reports it (and the books still balance).
    config = tmp_path / "farebox.yaml"
    config.write_text(f"database: {gateway.config.database}\n" + CONFIG % fake_openai.base_url + TIERS)
    check = cli("db", "check", "--config", str(config), "--json")
    assert check.returncode == 0, check.stderr
    tight = next(r for r in json.loads(check.stdout) if r["account"] == "tight")
    assert tight["ok"] and tight["overruns"] == 1 and tight["overrun_nano"] == 50_000
    human = cli("db", "check", "--config", str(config))
    assert human.returncode == 0 and "1 overrun(s) totalling $0.00005 on 1 account(s): tight" in human.stderr


def test_cost_above_the_hold_with_credit_to_spare_is_no_overrun(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    fake_openai.default = Script(prompt_tokens=1, completion_tokens=OVER_THE_HOLD)
    key = gateway.account("roomy", "pro", "1")
    gateway.client(key).chat.completions.create(model="meter", messages=[{"role": "user", "content": PROMPT}],
                                                max_tokens=MAX_TOKENS)
    charge = gateway.charges("roomy")[0]
    cost = (1 + OVER_THE_HOLD) * 1000
    assert charge["amount_nano"] == -cost and charge["overrun_nano"] is None and charge["note"] is None
    assert wallet(gateway, "roomy") == (1_000_000_000 - cost, 0)


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_client_gone_before_the_first_byte_pays_for_the_prompt(gateway: Gateway, fake_openai: FakeOpenAI,
                                                               stream: bool) -> None:
    key = gateway.account("leaver", "pro", "1")
    prompt = "lorem ipsum dolor sit amet " * 4000  # ~100 KB that the upstream reads and processes
    fake_openai.default = Script(latency=1.5)  # slow to answer: the client gives up first
    with pytest.raises(openai.APITimeoutError):
        gateway.client(key, timeout=0.5).chat.completions.create(
            model="meter", messages=[{"role": "user", "content": prompt}], max_tokens=MAX_TOKENS, stream=stream)
    assert len(fake_openai.requests) == 1  # the upstream had the request
    wait_for(lambda: len(gateway.charges("leaver")) == 1, what="the abandoned request's charge")
    gateway.wait_idle()
    charge = gateway.charges("leaver")[0]
    prompt_tokens = estimate_of(prompt)  # the calibrated estimate: no upstream count exists
    assert charge["outcome"] == "abandoned" and charge["prompt_tokens"] == prompt_tokens > 10_000
    assert charge["completion_tokens"] == 0 and charge["amount_nano"] == -prompt_tokens * 1000
    assert charge["overrun_nano"] is None
    assert wallet(gateway, "leaver") == (1_000_000_000 - prompt_tokens * 1000, 0)
    assert all(r["ok"] for r in gateway.check())


def test_a_wallet_failure_at_settlement_loses_no_charge(gateway: Gateway, fake_openai: FakeOpenAI,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    # The hold must grow at settlement (usage above it) and the shared wallet fails right then
    # (Redis down, closed policy): the charge is recorded all the same, as an overrun.
    fake_openai.default = Script(prompt_tokens=1, completion_tokens=OVER_THE_HOLD)
    key = gateway.account("frozen", "pro", "1")
    wallet_ = gateway.runtime.wallet
    admit = wallet_.reserve
    calls: list[int] = []

    async def fails_after_admission(account: int, amount: int, hold_id: str) -> None:
        calls.append(amount)
        if len(calls) > 1:
            raise ServiceUnavailable("Credit holds are temporarily unavailable; please retry shortly.")
        await admit(account, amount, hold_id)

    monkeypatch.setattr(wallet_, "reserve", fails_after_admission)
    gateway.client(key).chat.completions.create(model="meter", messages=[{"role": "user", "content": PROMPT}],
                                                max_tokens=MAX_TOKENS)
    assert len(calls) == 2
    charge = gateway.charges("frozen")[0]
    cost = (1 + OVER_THE_HOLD) * 1000
    assert charge["amount_nano"] == -cost and charge["overrun_nano"] == cost - calls[0]
    assert wallet(gateway, "frozen") == (1_000_000_000 - cost, 0)
