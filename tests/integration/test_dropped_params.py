"""Only vetted, priced parameters reach the upstream; the rest are named in
`x-farebox-dropped-params`; OpenRouter's own `usage.cost` is charged when it is higher."""

from __future__ import annotations

import logging
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes.anthropic_upstream import API_KEY, FakeAnthropic, Reply
from tests.fakes.fake_openai import FakeOpenAI, Script
from tests.fakes.native_fakes import threaded_anthropic
from tests.support.gateway import Gateway
from tests.support.sdk import extras, user

CONFIG = """
providers:
  openrouter: {kind: openai, preset: openrouter, base_url: "%(openai)s", api_key: or-key}
  claude: {kind: anthropic, base_url: "%(anthropic)s", api_key: "%(key)s"}
models:
  haiku:
    tier: pro
    price: {input: 1, output: 2}
    deployments: [{provider: openrouter, model: anthropic/claude-3.5-haiku}]
  haiku-cached:
    tier: pro
    price: {input: 1, output: 2, cache_write: 1.25}
    allow_params: [cache_control, reasoning]
    deployments: [{provider: openrouter, model: anthropic/claude-3.5-haiku}]
  sonnet:
    tier: pro
    price: {input: 3, output: 15}
    deployments: [{provider: claude, model: claude-sonnet-4-5}]
"""
USER: list[ChatCompletionMessageParam] = [user("Hi")]
HEADER = "x-farebox-dropped-params"
# What a client can send that would change the bill: OpenRouter's routing and plugins (extra_body)...
OPENROUTER_EXTRAS: dict[str, Any] = {
    "models": ["openai/gpt-4o"], "provider": {"sort": "throughput"}, "route": "fallback",
    "transforms": ["middle-out"], "plugins": [{"id": "web"}], "cache_control": {"type": "ephemeral"},
    "x_vendor_flag": True,
}
# ... and OpenAI's own, as the SDK's typed arguments.
OPENAI_EXTRAS: dict[str, Any] = {
    "service_tier": "priority", "modalities": ["text", "audio"], "audio": {"voice": "alloy", "format": "wav"},
    "prediction": {"type": "content", "content": "Hello"}, "web_search_options": {},
}
PRICE_CHANGING = sorted([*OPENROUTER_EXTRAS, *OPENAI_EXTRAS])


@pytest.fixture
def anthropic() -> Iterator[FakeAnthropic]:
    with threaded_anthropic() as (_, fake):
        yield fake


@pytest.fixture
def gateway(fake_openai: FakeOpenAI, anthropic: FakeAnthropic, make_gateway: Callable[[str], Gateway]) -> Gateway:
    return make_gateway(CONFIG % {"openai": fake_openai.base_url, "anthropic": anthropic.base_url, "key": API_KEY})


def charges(gateway: Gateway, account: str) -> list[int]:
    return [-row["amount_nano"] for row in gateway.charges(account)]


def test_json_never_forwards_price_changing_fields_and_names_them(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    client = gateway.client(gateway.account("ann"))
    raw = client.chat.completions.with_raw_response.create(
        model="haiku", messages=USER, temperature=0.3,
        **OPENAI_EXTRAS, extra_body={**OPENROUTER_EXTRAS, "top_k": 5})
    assert raw.headers[HEADER] == ",".join(PRICE_CHANGING)
    assert raw.parse().choices[0].message.content
    sent = fake_openai.requests[-1]
    assert not set(PRICE_CHANGING) & set(sent)
    assert sent["temperature"] == 0.3 and sent["top_k"] == 5  # priced fields and vetted extras still go


def test_stream_names_the_dropped_fields_too(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    client = gateway.client(gateway.account("bob"))
    raw = client.chat.completions.with_raw_response.create(
        model="haiku", messages=USER, stream=True, stream_options={"include_usage": True},
        **OPENAI_EXTRAS, extra_body=OPENROUTER_EXTRAS)
    assert raw.headers[HEADER] == ",".join(PRICE_CHANGING)
    assert "".join(c.choices[0].delta.content or "" for c in raw.parse() if c.choices)
    sent = fake_openai.requests[-1]
    assert sent["stream"] is True and not set(PRICE_CHANGING) & set(sent)


def test_nothing_dropped_means_no_header(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    client = gateway.client(gateway.account("cy"))
    raw = client.chat.completions.with_raw_response.create(model="haiku", messages=USER, seed=4)
    assert HEADER not in raw.headers and fake_openai.requests[-1]["seed"] == 4


def test_allow_params_lets_a_priced_field_through(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    client = gateway.client(gateway.account("dee"))
    raw = client.chat.completions.with_raw_response.create(
        model="haiku-cached", messages=USER,
        extra_body={**OPENROUTER_EXTRAS, "reasoning": {"effort": "low"}})
    sent = fake_openai.requests[-1]
    assert sent["cache_control"] == {"type": "ephemeral"} and sent["reasoning"] == {"effort": "low"}
    assert raw.headers[HEADER] == "models,plugins,provider,route,transforms,x_vendor_flag"


def test_native_adapters_report_what_they_ignore(gateway: Gateway, anthropic: FakeAnthropic) -> None:
    anthropic.script = [Reply.text("Bonjour")]
    client = gateway.client(gateway.account("eve"))
    raw = client.chat.completions.with_raw_response.create(
        model="sonnet", messages=USER, seed=1, presence_penalty=0.5, temperature=0.2,
        logit_bias={"1": 1}, extra_body={"top_k": 3, "plugins": [{"id": "web"}]})
    assert raw.headers[HEADER] == "logit_bias,plugins,presence_penalty,seed"
    sent = anthropic.requests[-1].body
    assert sent["temperature"] == 0.2 and sent["top_k"] == 3 and "plugins" not in sent


def test_openrouter_usage_cost_is_charged_when_higher(gateway: Gateway, fake_openai: FakeOpenAI,
                                                     caplog: pytest.LogCaptureFixture) -> None:
    """Priced at 1 / 2 USD per 1M: 100 + 10 tokens cost 120,000 nano-USD by our table, but OpenRouter
    routed to a pricier model and says the request cost it $0.0012345678901."""
    usage = {"prompt_tokens": 100, "completion_tokens": 10, "total_tokens": 110, "cost": 0.0012345678901,
             "cost_details": {"upstream_inference_cost": None}, "is_byok": False}
    fake_openai.default = Script(text="hi", usage_override=usage, extra={"model": "openai/gpt-4o"})
    client = gateway.client(gateway.account("fay"))
    with caplog.at_level(logging.WARNING, "farebox.params"):
        reply = client.chat.completions.create(model="haiku", messages=USER)
    exact = 1_234_568  # $0.0012345678901, rounded up to the nano-USD
    assert round(extras(reply.usage)["credits_used_usd"] * 1e9) == exact
    assert any("openai/gpt-4o" in r.getMessage() and "anthropic/claude-3.5-haiku" in r.getMessage()
               for r in caplog.records)
    stream = client.chat.completions.create(model="haiku", messages=USER, stream=True,
                                            stream_options={"include_usage": True})
    last = [chunk for chunk in stream][-1]
    assert round(extras(last.usage)["credits_used_usd"] * 1e9) == exact
    # Lower than our price: our price stands.
    fake_openai.default = Script(text="hi", usage_override={**usage, "cost": 0.0000001})
    client.chat.completions.create(model="haiku", messages=USER)
    assert charges(gateway, "fay") == [exact, exact, 120_000]
    assert all(row["ok"] for row in gateway.check())


def test_a_price_changing_allow_param_is_refused_at_start(tmp_path: Path) -> None:
    config = tmp_path / "farebox.yaml"
    config.write_text(f"database: sqlite:///{tmp_path / 'f.db'}\n" + """
tiers: {pro: {rank: 1, rpm: 60}}
providers: {openrouter: {kind: openai, preset: openrouter, base_url: "http://127.0.0.1:9/v1"}}
models:
  haiku:
    tier: pro
    price: {input: 1, output: 2}
    allow_params: [reasoning, service_tier]
    deployments: [{provider: openrouter, model: anthropic/claude-3.5-haiku}]
""")
    result = subprocess.run([sys.executable, "-m", "farebox", "serve", "--config", str(config), "--port", "0"],
                            capture_output=True, text=True, timeout=60)
    stderr = " ".join(result.stderr.split())  # unwrapped
    assert result.returncode != 0
    assert f"{config}: models.haiku.allow_params[1]: 'service_tier' cannot be allowed" in stderr
    assert "priority tier bills more per token" in stderr
