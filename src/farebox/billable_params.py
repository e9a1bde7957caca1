"""Request fields that make an upstream bill more than the tokens farebox prices: which they are,
and the one rule under which a model may still opt in to one (checked when the config loads;
providers/params.py keeps them from upstreams otherwise)."""

from __future__ import annotations

# Fields that make an upstream bill more than the tokens farebox prices, and why. None can be
# allowed, except `cache_control` on a model that prices cache writes (see allow_params_problem).
PRICE_CHANGING: dict[str, str] = {
    "models": "OpenRouter falls back to these models, at their prices",
    "provider": "OpenRouter provider preferences can route to a pricier host",
    "route": "OpenRouter fallback routing can answer with another, pricier model",
    "transforms": "OpenRouter transforms change what is sent and billed",
    "plugins": "OpenRouter plugins (web search, file parsing) are billed per use",
    "service_tier": "OpenAI's priority tier bills more per token",
    "audio": "audio output is billed at audio-token prices",
    "modalities": "audio output is billed at audio-token prices",
    "prediction": "rejected predicted tokens are billed as output",
    "web_search_options": "web search is billed per call",
    "cache_control": "automatic prompt caching bills cache writes",
}


def allow_params_problem(param: str, prices_cache_writes: bool) -> str | None:
    """Why a model may not opt in to `param` (None: it may).

    The rule is deliberately small: a field that makes the upstream bill something farebox does
    not price cannot be allowed, except `cache_control` when the model has a cache-write price
    (an explicit `price.cache_write`, or `price: upstream`, which takes OpenRouter's own)."""
    reason = PRICE_CHANGING.get(param)
    if reason is None:
        return None
    if param == "cache_control":
        if prices_cache_writes:
            return None
        return f"{param!r} cannot be allowed without a cache-write price ({reason}): add price.cache_write"
    return f"{param!r} cannot be allowed: {reason}, which farebox does not price"
