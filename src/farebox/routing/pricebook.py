"""Upstream price tables for wildcard routes priced `upstream` (e.g. `"openrouter/*"`).

The table of each such provider comes from its models endpoint (GET {base_url}/models, in
OpenRouter's shape: data[].id, pricing.prompt / completion / input_cache_read /
input_cache_write as USD-per-token strings, context_length, top_provider.max_completion_tokens),
loaded at start and refreshed every `price_refresh_s` in the background. A request only does a
dict lookup; a failed refresh keeps the last good table. This module only parses and schedules:
the GET goes out through the dispatcher (`Dispatcher.get_json`: the provider's pooled session,
its adapter's URL and auth), the one owner of upstream HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal, InvalidOperation
from typing import Any

from farebox.billing.pricing import Rates
from farebox.config import Config
from farebox.providers.base import UpstreamError

log = logging.getLogger("farebox.prices")

# USD per token -> nano-USD per 1M tokens.
_NANO_PER_1M_PER_USD_PER_TOKEN = Decimal(1_000_000_000) * Decimal(1_000_000)
RETRY_AFTER_FAILURE_S = 60.0


@dataclass(frozen=True, slots=True)
class UpstreamModel:
    rates: Rates
    context: int | None
    max_output: int | None


def per_token_to_rate(value: Any) -> int | None:
    """A USD-per-token price ("0.00000015") as integer nano-USD per 1M tokens, exactly (Decimal).
    Finer than a nano-USD per 1M tokens rounds up. None for a missing, bad or negative price
    (OpenRouter marks variable-priced routers such as openrouter/auto with "-1")."""
    if value is None or isinstance(value, bool):
        return None
    try:
        price = Decimal(str(value))
    except InvalidOperation:
        return None
    if not price.is_finite() or price < 0:
        return None
    return int((price * _NANO_PER_1M_PER_USD_PER_TOKEN).to_integral_value(rounding=ROUND_CEILING))


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _positive_int(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


def parse_models(doc: Any) -> dict[str, UpstreamModel]:
    """OpenRouter's /models answer -> model id -> prices and limits. Models without a usable prompt
    and completion price are left out (they cannot be billed)."""
    table: dict[str, UpstreamModel] = {}
    data = doc.get("data") if isinstance(doc, dict) else None
    if not isinstance(data, list):
        raise ValueError("the models endpoint answered without a data list")
    for item in data:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue
        pricing = _dict(item.get("pricing"))
        prompt, completion = per_token_to_rate(pricing.get("prompt")), per_token_to_rate(pricing.get("completion"))
        if prompt is None or completion is None:
            continue
        cache_read = per_token_to_rate(pricing.get("input_cache_read"))
        cache_write = per_token_to_rate(pricing.get("input_cache_write"))
        top = _dict(item.get("top_provider"))
        table[item["id"]] = UpstreamModel(
            rates=Rates(input=prompt, output=completion,
                        cached_input=prompt if cache_read is None else cache_read,
                        cache_write=prompt if cache_write is None else cache_write),
            context=_positive_int(item.get("context_length")) or _positive_int(top.get("context_length")),
            max_output=_positive_int(top.get("max_completion_tokens")))
    return table


class PriceBook:
    """provider name -> (upstream model id -> UpstreamModel). Replaced whole on each refresh."""

    def __init__(self, providers: Mapping[str, float] | None = None) -> None:
        self.providers: dict[str, float] = dict(providers or {})  # provider -> refresh interval (s)
        self._tables: dict[str, dict[str, UpstreamModel]] = {}

    @classmethod
    def for_config(cls, config: Config) -> PriceBook:
        """The providers whose wildcard routes are priced `upstream`."""
        providers = {m.provider: config.providers[m.provider].price_refresh_s
                     for model_id, m in config.models.items()
                     if model_id.endswith("/*") and m.price == "upstream" and m.provider}
        return cls(providers)

    def loaded(self, provider: str) -> bool:
        return provider in self._tables

    def lookup(self, provider: str, model: str) -> UpstreamModel | None:
        table = self._tables.get(provider)
        return None if table is None else table.get(model)

    def replace(self, provider: str, table: dict[str, UpstreamModel]) -> None:
        self._tables[provider] = table


FetchJSON = Callable[[str, str], Awaitable[Any]]
"""(provider name, path) -> the decoded JSON of a GET of that path: `Dispatcher.get_json`."""


class PriceRefresher:
    """Fetches each provider's table at start, then every interval, off the request path."""

    def __init__(self, book: PriceBook, config: Config, fetch: FetchJSON) -> None:
        self.book = book
        self.config = config
        self.fetch = fetch
        self._tasks: list[asyncio.Task[None]] = []

    async def refresh(self, provider: str) -> bool:
        """Fetch one provider's table now; True when it was replaced."""
        try:
            table = parse_models(await self.fetch(provider, "/models"))
        except (UpstreamError, ValueError) as exc:
            log.warning("could not refresh the price table of %s: %s", provider, exc)
            return False
        self.book.replace(provider, table)
        log.info("price table of %s: %d models", provider, len(table))
        return True

    async def start(self) -> None:
        if not self.book.providers:
            return
        await asyncio.gather(*(self.refresh(p) for p in self.book.providers))
        self._tasks = [asyncio.ensure_future(self._loop(p, s)) for p, s in self.book.providers.items()]

    async def _loop(self, provider: str, interval: float) -> None:
        ok = self.book.loaded(provider)
        while True:
            await asyncio.sleep(interval if ok else min(interval, RETRY_AFTER_FAILURE_S))
            ok = await self.refresh(provider)

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        self._tasks = []
