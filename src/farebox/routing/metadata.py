"""Model metadata for /v1/models?metadata=true and /v1/model-metadata: flat, OpenRouter-like
objects inside OpenAI's model object (id, object, created, owned_by), per model a tier may use.

Prices are decimal strings, never floats: `pricing` in USD per token (OpenRouter's unit) and
`pricing_per_million` in USD per 1M tokens (how operators configure them). smart-route is listed
as a virtual entry summarising the tier's pool; wildcard routes (openrouter/*) by their pattern.
"""

from __future__ import annotations

from collections.abc import Iterable
from decimal import Decimal
from typing import Any

from farebox.billing.pricing import Rates
from farebox.config import FEATURES
from farebox.money import NANO_PER_USD, TOKENS_PER_PRICE_UNIT
from farebox.routing.catalog import SMART_ROUTE, Catalog, CatalogModel
from farebox.routing.health import Health
from farebox.routing.policy import pool

CREATED = 1747526400  # 2025-05-18: a fixed date, so listings are stable
FILTERS = ("agents",)

# Request parameters every adapter of a kind honours (the portable sampling controls).
_BASE_PARAMS = ("max_tokens", "max_completion_tokens", "temperature", "top_p", "stop")
_KIND_PARAMS: dict[str, frozenset[str]] = {
    "openai": frozenset(_BASE_PARAMS + ("seed", "frequency_penalty", "presence_penalty", "n")),
    "noop": frozenset(_BASE_PARAMS + ("seed", "frequency_penalty", "presence_penalty", "n")),
    "anthropic": frozenset(_BASE_PARAMS + ("top_k",)),
    "gemini": frozenset(_BASE_PARAMS + ("top_k", "seed", "frequency_penalty", "presence_penalty", "n")),
}
# Request parameters a feature adds.
_FEATURE_PARAMS: dict[str, tuple[str, ...]] = {
    "tools": ("tools", "parallel_tool_calls"), "tool_choice": ("tool_choice",),
    "json_object": ("response_format",), "json_schema": ("response_format", "structured_outputs"),
    "logprobs": ("logprobs", "top_logprobs"), "reasoning": ("reasoning_effort",),
    "prompt_cache": ("prompt_cache_key",),
}
_STATUS_ORDER = ("live", "degraded", "down")


def model_object(model_id: str, owned_by: str) -> dict[str, Any]:
    """OpenAI's model object: what plain /v1/models lists."""
    return {"id": model_id, "object": "model", "created": CREATED, "owned_by": owned_by}


def owner(model: CatalogModel) -> str:
    if model.config.owned_by:
        return model.config.owned_by
    return model.targets[0].provider_name if model.targets else "farebox"


def fit_for(model: CatalogModel, filter_name: str | None, catalog: Catalog) -> bool:
    """`filter=agents`: tools and tool_choice, and at least catalog.agents_min_context of context."""
    if filter_name is None:
        return True
    return ({"tools", "tool_choice"} <= model.features
            and model.config.context >= catalog.config.catalog.agents_min_context)


def list_metadata(catalog: Catalog, health: Health, tier: str, filter_name: str | None = None) -> list[dict[str, Any]]:
    """smart-route first (when its pool has a model), then the tier's models, then wildcard routes."""
    models = [m for m in catalog.visible(tier) if fit_for(m, filter_name, catalog)]
    entries = [model_metadata(catalog, health, m) for m in models]
    routed = [m for m in pool(catalog, tier) if catalog.allows(tier, m) and fit_for(m, filter_name, catalog)]
    smart = [smart_route_metadata(catalog, health, routed)] if routed else []
    wildcards = [model_metadata(catalog, health, m) for m in catalog.wildcard_routes(tier)
                 if fit_for(m, filter_name, catalog)]
    return smart + entries + wildcards


def model_metadata(catalog: Catalog, health: Health, model: CatalogModel) -> dict[str, Any]:
    config = model.config
    inputs, outputs = _modalities(model)
    entry = model_object(model.id, owner(model))
    entry.update({
        "kind": "wildcard" if model.wildcard else "model",
        "description": config.description,
        "tier": config.tier,
        "context_length": config.context,
        "max_output_tokens": config.max_output,
        "modalities": {"input": inputs, "output": outputs},
        "pricing": _pricing(model.rates, per_tokens=1),
        "pricing_per_million": _pricing(model.rates, per_tokens=TOKENS_PER_PRICE_UNIT),
        "supported_features": _ordered(model.features),
        "supported_parameters": supported_parameters(model),
        # A wildcard route's upstream models get deployments per request: no health of its own.
        "status": "live" if model.wildcard else health.status(model.deployments),
    })
    return entry


def smart_route_metadata(catalog: Catalog, health: Health, models: list[CatalogModel]) -> dict[str, Any]:
    """smart-route as one entry: what the pool can do together (it routes each request to a model
    that can handle it), the lowest tier among them, and the best status; prices vary: null."""
    lowest = min(models, key=lambda m: m.tier_rank)
    inputs = _union(_modalities(m)[0] for m in models)
    outputs = _union(_modalities(m)[1] for m in models)
    statuses = {health.status(m.deployments) for m in models}
    entry = model_object(SMART_ROUTE, "farebox")
    entry.update({
        "kind": "router",
        "description": "Routes each request to the cheapest model of your tier that can handle it: "
                       + ", ".join(m.id for m in models) + ".",
        "tier": lowest.config.tier,
        "context_length": max(m.config.context for m in models),
        "max_output_tokens": max(m.config.max_output for m in models),
        "modalities": {"input": inputs, "output": outputs},
        "pricing": None,
        "pricing_per_million": None,
        "supported_features": _ordered(frozenset().union(*(m.features for m in models))),
        # Sampling parameters every pool model honours; feature parameters route to a model that has them.
        "supported_parameters": sorted(set.intersection(*(_sampling(m) for m in models))
                                       | set().union(*(_feature_params(m.features) for m in models))),
        "status": next(s for s in _STATUS_ORDER if s in statuses),
    })
    return entry


def supported_parameters(model: CatalogModel) -> list[str]:
    """The sampling parameters every deployment's provider kind honours, plus the features' own."""
    return sorted(_sampling(model) | _feature_params(model.features))


def _sampling(model: CatalogModel) -> set[str]:
    kinds = {t.provider.kind for t in model.targets}
    if not kinds:
        return set(_BASE_PARAMS)
    return set.intersection(*(set(_KIND_PARAMS.get(k, _BASE_PARAMS)) for k in kinds))


def _feature_params(features: frozenset[str]) -> set[str]:
    return {param for feature in features for param in _FEATURE_PARAMS.get(feature, ())}


def _modalities(model: CatalogModel) -> tuple[list[str], list[str]]:
    configured = model.config.modalities
    inputs = list(configured.input) if configured else ["text"]
    outputs = list(configured.output) if configured else ["text"]
    if "vision" in model.features and "image" not in inputs:
        inputs.append("image")
    return inputs, outputs


def _pricing(rates: Rates | None, per_tokens: int) -> dict[str, str] | None:
    if rates is None:  # priced from the upstream's table per request (wildcard routes)
        return None
    return {"prompt": _usd(rates.input, per_tokens), "completion": _usd(rates.output, per_tokens),
            "input_cache_read": _usd(rates.cached_input, per_tokens),
            "input_cache_write": _usd(rates.cache_write, per_tokens)}


def _usd(nano_per_million: int, per_tokens: int) -> str:
    """nano-USD per 1M tokens -> exact USD per `per_tokens` tokens, plain decimal text."""
    value = Decimal(nano_per_million) * per_tokens / (NANO_PER_USD * TOKENS_PER_PRICE_UNIT)
    text = f"{value:f}"
    return text.rstrip("0").rstrip(".") if "." in text else text


def _ordered(features: frozenset[str]) -> list[str]:
    return [f for f in FEATURES if f in features]


def _union(lists: Iterable[list[str]]) -> list[str]:
    seen: dict[str, None] = {}
    for items in lists:
        seen.update(dict.fromkeys(items))
    return list(seen)
