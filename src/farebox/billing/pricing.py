"""Prices in integer nano-USD per 1M tokens, usage in OpenAI terms, and exact costs."""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from farebox.config import Price
from farebox.money import NANO_PER_USD, TOKENS_PER_PRICE_UNIT, nano_to_usd, usd_to_nano


@dataclass(frozen=True, slots=True)
class Rates:
    """nano-USD per 1M tokens."""

    input: int
    output: int
    cached_input: int
    cache_write: int

    @classmethod
    def from_price(cls, price: Price) -> Rates:
        input_rate = usd_to_nano(price.input)
        return cls(
            input=input_rate,
            output=usd_to_nano(price.output),
            cached_input=input_rate if price.cached_input is None else usd_to_nano(price.cached_input),
            cache_write=input_rate if price.cache_write is None else usd_to_nano(price.cache_write),
        )

    def cost(self, usage: Usage) -> int:
        """Exact cost in nano-USD, rounded up once over the whole request; never less than what
        the upstream said it charged (OpenRouter's `usage.cost`: it may have routed elsewhere)."""
        cached = min(usage.cached_tokens, usage.prompt_tokens)
        written = min(usage.cache_write_tokens, usage.prompt_tokens - cached)
        fresh = usage.prompt_tokens - cached - written
        numerator = (fresh * self.input + cached * self.cached_input + written * self.cache_write
                     + usage.completion_tokens * self.output)
        priced = -(-numerator // TOKENS_PER_PRICE_UNIT) if numerator > 0 else 0
        return max(priced, usage.upstream_cost_nano)

    def estimate(self, prompt_tokens: int, max_output_tokens: int) -> int:
        """Worst-case cost: every prompt token uncached, every allowed output token generated."""
        numerator = prompt_tokens * max(self.input, self.cache_write) + max_output_tokens * self.output
        return -(-numerator // TOKENS_PER_PRICE_UNIT)


@dataclass(frozen=True, slots=True)
class Usage:
    prompt_tokens: int = 0  # every input token, cache reads and writes included
    completion_tokens: int = 0  # reasoning included
    cached_tokens: int = 0
    cache_write_tokens: int = 0
    reasoning_tokens: int = 0
    upstream_cost_nano: int = 0  # what the upstream reported charging us (OpenRouter), 0 if unknown

    @classmethod
    def from_openai(cls, usage: dict[str, Any]) -> Usage:
        prompt_details = usage.get("prompt_tokens_details") or {}
        completion_details = usage.get("completion_tokens_details") or {}
        cached = _int(prompt_details.get("cached_tokens"))
        if not cached:  # DeepSeek reports cache hits its own way
            cached = _int(usage.get("prompt_cache_hit_tokens"))
        return cls(
            prompt_tokens=_int(usage.get("prompt_tokens")),
            completion_tokens=_int(usage.get("completion_tokens")),
            cached_tokens=cached,
            cache_write_tokens=_int(prompt_details.get("cache_write_tokens")),
            reasoning_tokens=_int(completion_details.get("reasoning_tokens")),
            upstream_cost_nano=_upstream_cost(usage),
        )

    def to_openai(self, model_used: str, cost_nano: int) -> dict[str, Any]:
        return {
            "prompt_tokens": self.prompt_tokens,
            "completion_tokens": self.completion_tokens,
            "total_tokens": self.prompt_tokens + self.completion_tokens,
            "prompt_tokens_details": {"cached_tokens": self.cached_tokens,
                                      "cache_write_tokens": self.cache_write_tokens},
            "completion_tokens_details": {"reasoning_tokens": self.reasoning_tokens},
            "model_used": model_used,
            "credits_used_usd": nano_to_usd(cost_nano),
        }


def _upstream_cost(usage: dict[str, Any]) -> int:
    """OpenRouter's `usage.cost` (USD, a JSON number) in nano-USD, rounded up. With BYOK, `cost`
    is only OpenRouter's fee and the provider bills `cost_details.upstream_inference_cost` to
    the operator's own key: both are what the request cost."""
    total = _usd(usage.get("cost"))
    details = usage.get("cost_details")
    if usage.get("is_byok") is True and isinstance(details, dict):
        total += _usd(details.get("upstream_inference_cost"))
    return math.ceil(total * NANO_PER_USD)


def _usd(value: Any) -> Decimal:
    if not isinstance(value, (int, float)) or isinstance(value, bool) or value <= 0:
        return Decimal(0)
    amount = Decimal(repr(value))  # the number as written, not the float's binary expansion
    return amount if amount.is_finite() else Decimal(0)  # inf, nan


def _int(value: Any) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0
