"""`"openrouter/*"` priced `upstream`: the price table read from the provider's GET /models."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from tests.fakes.fake_openai import FakeOpenAI, Script
from tests.support.gateway import Gateway
from tests.support.sdk import extras

CONFIG = """
providers:
  openrouter: {kind: openai, preset: openrouter, base_url: "%s", api_key: or-key, price_refresh_s: 3600}
models:
  "openrouter/*": {tier: pro, provider: openrouter, price: upstream}
"""


def models(haiku_prompt: str = "0.0000008") -> dict[str, Any]:
    """The shape of https://openrouter.ai/api/v1/models (prices are USD per token, as strings)."""
    return {"data": [
        {"id": "anthropic/claude-3.5-haiku", "name": "Anthropic: Claude 3.5 Haiku", "context_length": 200000,
         "pricing": {"prompt": haiku_prompt, "completion": "0.000004", "request": "0", "image": "0",
                     "input_cache_read": "0.00000008", "input_cache_write": "0.000001"},
         "top_provider": {"context_length": 200000, "max_completion_tokens": 8192, "is_moderated": True}},
        {"id": "meta-llama/llama-3.1-8b-instruct", "context_length": 131072,
         "pricing": {"prompt": "0.00000002", "completion": "0.00000003"},
         "top_provider": {"context_length": 131072, "max_completion_tokens": None}},
        {"id": "tiny/sub-nano", "context_length": 4096,
         "pricing": {"prompt": "0.0000000000375", "completion": "0.00000000015"}, "top_provider": {}},
        {"id": "openrouter/auto", "context_length": 2000000, "pricing": {"prompt": "-1", "completion": "-1"}},
    ]}


@pytest.fixture
def gateway(fake_openai: FakeOpenAI, make_gateway: Callable[[str], Gateway]) -> Gateway:
    fake_openai.models_doc = models()
    return make_gateway(CONFIG % fake_openai.base_url)


def charges(gateway: Gateway, account: str) -> list[int]:
    return [-row["amount_nano"] for row in gateway.ledger(account) if row["kind"] == "charge"]


def refresh(gateway: Gateway) -> bool:
    prices = gateway.runtime.prices
    assert prices is not None  # the config prices openrouter/* from a refreshed table
    refreshed: bool = gateway.run(prices.refresh("openrouter"))
    return refreshed


def test_wildcard_model_is_priced_from_the_table(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    key = gateway.account("rita")
    fake_openai.default = Script(text="hi", prompt_tokens=1000, cached_tokens=200, completion_tokens=100)
    resp = gateway.client(key).chat.completions.create(model="openrouter/anthropic/claude-3.5-haiku",
                                                       messages=[{"role": "user", "content": "Hi"}])
    assert resp.model == "openrouter/anthropic/claude-3.5-haiku"
    assert fake_openai.requests[-1]["model"] == "anthropic/claude-3.5-haiku"
    # 0.8 / 0.08 / 4 USD per 1M tokens: 800 * 800 + 200 * 80 + 100 * 4000 nano-USD
    expected = 800 * 800 + 200 * 80 + 100 * 4000
    assert round(extras(resp.usage)["credits_used_usd"] * 1e9) == expected
    assert charges(gateway, "rita") == [expected]
    assert fake_openai.models_headers[0]["Authorization"] == "Bearer or-key"
    assert fake_openai.models_headers[0]["X-Title"] == "farebox"


def test_sub_nano_prices_are_exact(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    key = gateway.account("sam")
    fake_openai.default = Script(text="hi", prompt_tokens=1000, completion_tokens=1000)
    gateway.client(key).chat.completions.create(model="openrouter/tiny/sub-nano",
                                                messages=[{"role": "user", "content": "Hi"}])
    # 0.0375 and 0.15 nano-USD per token: 37.5 + 150 = 187.5, rounded up once
    assert charges(gateway, "sam") == [188]


def test_table_limits_unknown_and_unpriceable_models(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    client = gateway.client(gateway.account("tom"))
    user: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hi"}]
    with pytest.raises(openai.BadRequestError) as too_long:
        client.chat.completions.create(model="openrouter/anthropic/claude-3.5-haiku", messages=user,
                                       max_tokens=9000)
    assert "8192" in too_long.value.message
    for missing in ("openrouter/nobody/nothing", "openrouter/openrouter/auto"):
        with pytest.raises(openai.NotFoundError) as err:
            client.chat.completions.create(model=missing, messages=user)
        assert err.value.code == "model_not_found"
    assert fake_openai.requests == []
    starter = gateway.client(gateway.account("sue", tier="starter"))
    with pytest.raises(openai.PermissionDeniedError):
        starter.chat.completions.create(model="openrouter/meta-llama/llama-3.1-8b-instruct", messages=user)


def test_refresh_replaces_prices(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    client = gateway.client(gateway.account("una"))
    fake_openai.default = Script(text="hi", prompt_tokens=1000, completion_tokens=0)
    user: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hi"}]
    client.chat.completions.create(model="openrouter/anthropic/claude-3.5-haiku", messages=user)
    fake_openai.models_doc = models(haiku_prompt="0.0000016")
    assert refresh(gateway) is True
    client.chat.completions.create(model="openrouter/anthropic/claude-3.5-haiku", messages=user)
    fake_openai.models_status = 500  # a failed refresh keeps the last good table
    assert refresh(gateway) is False
    client.chat.completions.create(model="openrouter/anthropic/claude-3.5-haiku", messages=user)
    assert charges(gateway, "una") == [800_000, 1_600_000, 1_600_000]


def test_table_not_loaded_yet_is_503_until_it_is(fake_openai: FakeOpenAI,
                                                 make_gateway: Callable[[str], Gateway]) -> None:
    fake_openai.models_status = 503
    gateway = make_gateway(CONFIG % fake_openai.base_url)
    client = gateway.client(gateway.account("vic"))
    user: list[ChatCompletionMessageParam] = [{"role": "user", "content": "Hi"}]
    with pytest.raises(openai.InternalServerError) as err:
        client.chat.completions.create(model="openrouter/anthropic/claude-3.5-haiku", messages=user)
    assert err.value.status_code == 503 and "not loaded yet" in err.value.message
    assert fake_openai.requests == []
    fake_openai.models_status, fake_openai.models_doc = 200, models()
    assert refresh(gateway) is True
    assert client.chat.completions.create(model="openrouter/anthropic/claude-3.5-haiku",
                                          messages=user).choices[0].message.content
