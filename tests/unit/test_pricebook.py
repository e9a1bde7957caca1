"""Upstream price tables: USD-per-token strings to exact integer rates, and the table's shape."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest

import farebox
from farebox.config import parse_config
from farebox.providers.base import UpstreamError
from farebox.routing.pricebook import PriceBook, PriceRefresher, parse_models, per_token_to_rate

CONFIG = """
tiers: {pro: {rank: 1, rpm: 60}}
providers: {openrouter: {kind: openai, base_url: "https://openrouter.ai/api/v1", api_key: k}}
models: {"openrouter/*": {tier: pro, provider: openrouter, price: upstream}}
"""


@pytest.mark.parametrize(("text", "rate"), [
    ("0.0000008", 800_000_000),        # $0.80 per 1M tokens
    ("0.00000015", 150_000_000),
    ("0", 0),
    ("0.0000000000375", 37_500),       # finer than a nano-USD per token stays exact
    ("1e-15", 1),                      # one nano-USD per 1M tokens
    ("2.5e-16", 1),                    # finer still: rounded up, never down
    ("-1", None), ("", None), ("abc", None), (None, None), ("NaN", None), (True, None),
])
def test_per_token_to_rate(text: object, rate: int | None) -> None:
    assert per_token_to_rate(text) == rate


def test_parse_models_reads_prices_and_limits_and_skips_the_unbillable() -> None:
    table = parse_models({"data": [
        {"id": "a/b", "context_length": 1000, "pricing": {"prompt": "0.000001", "completion": "0.000002",
                                                           "input_cache_read": "0.0000001"},
         "top_provider": {"max_completion_tokens": 500}},
        {"id": "c/d", "pricing": {"prompt": "0.000001"}},
        {"id": "e/f", "pricing": {"prompt": "-1", "completion": "-1"}},
        {"name": "no id"}, "junk",
    ]})
    assert set(table) == {"a/b"}
    entry = table["a/b"]
    assert (entry.rates.input, entry.rates.output, entry.rates.cached_input, entry.rates.cache_write) == \
        (1_000_000_000, 2_000_000_000, 100_000_000, 1_000_000_000)
    assert (entry.context, entry.max_output) == (1000, 500)
    with pytest.raises(ValueError):
        parse_models({"object": "list"})


def test_book_lookup_and_loaded() -> None:
    book = PriceBook({"openrouter": 60})
    assert not book.loaded("openrouter") and book.lookup("openrouter", "a/b") is None
    book.replace("openrouter", parse_models({"data": []}))
    assert book.loaded("openrouter") and book.lookup("openrouter", "a/b") is None


def test_refresher_fetches_through_the_given_owner_and_keeps_the_last_good_table() -> None:
    config = parse_config(CONFIG, "test")
    book = PriceBook.for_config(config)
    calls: list[tuple[str, str]] = []
    answers: list[Any] = [{"data": [{"id": "a/b", "pricing": {"prompt": "0.000001", "completion": "0.000002"}}]},
                          UpstreamError(502, "HTTP 500"), {"object": "list"}]

    async def fetch(provider: str, path: str) -> Any:
        calls.append((provider, path))
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    refresher = PriceRefresher(book, config, fetch)
    assert asyncio.run(refresher.refresh("openrouter")) is True
    assert asyncio.run(refresher.refresh("openrouter")) is False  # an upstream error
    assert asyncio.run(refresher.refresh("openrouter")) is False  # not a models list
    assert calls == [("openrouter", "/models")] * 3
    entry = book.lookup("openrouter", "a/b")
    assert entry is not None and entry.rates.output == 2_000_000_000


def test_routing_does_no_http_of_its_own() -> None:
    """The dispatcher owns upstream HTTP (pooled sessions, the adapters' auth): routing/ parses."""
    for path in (Path(farebox.__file__).parent / "routing").glob("*.py"):
        assert "aiohttp" not in path.read_text(), path.name
