"""`farebox route explain` and POST /admin/v1/route/explain: what smart-route would do with a
request for a tier, every candidate kept or dropped with the reason and its estimated cost."""

from __future__ import annotations

from typing import Any

from farebox.errors import GatewayError, InvalidRequest
from farebox.money import nano_to_usd
from farebox.routing.catalog import Catalog
from farebox.routing.health import Health
from farebox.routing.needs import request_needs
from farebox.routing.policy import explain, pick, ranking_output


def explain_request(catalog: Catalog, health: Health, tier: str, body: Any) -> dict[str, Any]:
    """A JSON-ready report. Raises InvalidRequest for an unknown tier or a body that is no request."""
    if tier not in catalog.config.tiers:
        raise InvalidRequest(f"Unknown tier {tier!r}; tiers: {', '.join(catalog.config.tiers)}.", param="tier")
    if not isinstance(body, dict) or not isinstance(body.get("messages"), list):
        raise InvalidRequest("The request must be a chat completion body with a `messages` list.",
                             param="request")
    needs = request_needs(body)
    verdicts = explain(catalog, health, tier, needs)
    chosen: str | None = None
    error: dict[str, Any] | None = None
    try:
        chosen = pick(catalog, tier, needs, verdicts)[0].id
    except GatewayError as exc:
        error = {"status": exc.status, "code": exc.code, "message": exc.message}
    candidates = []
    rank = 0
    for verdict in verdicts:
        model = verdict.model
        rank += verdict.kept
        latency = [x for x in (health.latency(d) for d in model.deployments) if x is not None]
        candidates.append({
            "rank": rank if verdict.kept else None,
            "model": model.id,
            "tier": model.config.tier,
            "kept": verdict.kept,
            "reason": verdict.reason,
            "estimated_cost_usd": None if verdict.estimated_cost_nano is None
            else nano_to_usd(verdict.estimated_cost_nano),
            "context_length": model.config.context,
            "status": health.status(model.deployments),
            "latency_ms": round(min(latency) * 1000, 1) if latency else None,
        })
    return {
        "tier": tier,
        "pool": catalog.config.tiers[tier].smart_route,
        "needs": {"features": sorted(needs.features), "prompt_tokens": needs.prompt_tokens,
                  "max_output": needs.max_output, "ranking_output_tokens": ranking_output(needs)},
        "chosen": chosen,
        "error": error,
        "candidates": candidates,
    }
