"""smart-route: among the models a tier allows that can handle the request, cheapest first.

A model can handle a request when it has every feature the request needs, its context holds the
prompt plus the output allowance, and it is not down. Ties break by observed latency.
"""

from __future__ import annotations

from dataclasses import dataclass

from farebox.errors import NoCapableModel
from farebox.routing.catalog import Catalog, CatalogModel
from farebox.routing.health import Health
from farebox.routing.needs import Needs

RANKING_OUTPUT_TOKENS = 512  # output assumed (for context fit and ranking) when no max_tokens is set


@dataclass(frozen=True, slots=True)
class Verdict:
    model: CatalogModel
    kept: bool
    reason: str
    estimated_cost_nano: int | None


def explain(catalog: Catalog, health: Health, tier: str, needs: Needs) -> list[Verdict]:
    """Every model of the tier's smart-route pool, kept or dropped with the reason, kept ones
    in the order smart-route would try them."""
    pool = catalog.config.tiers[tier].smart_route
    verdicts: list[Verdict] = []
    for model in catalog.models.values():
        if pool is not None and model.id not in pool:
            continue
        verdicts.append(_judge(catalog, health, tier, needs, model))
    kept = sorted((v for v in verdicts if v.kept), key=lambda v: (
        v.estimated_cost_nano or 0, _latency(health, v.model)))
    return kept + [v for v in verdicts if not v.kept]


def choose(catalog: Catalog, health: Health, tier: str, needs: Needs) -> list[CatalogModel]:
    verdicts = explain(catalog, health, tier, needs)
    kept = [v.model for v in verdicts if v.kept]
    if not kept:
        raise NoCapableModel(_no_model_message(verdicts, needs))
    return kept


def _judge(catalog: Catalog, health: Health, tier: str, needs: Needs, model: CatalogModel) -> Verdict:
    def drop(reason: str) -> Verdict:
        return Verdict(model, False, reason, None)

    if not catalog.allows(tier, model):
        return drop(f"needs tier {model.config.tier}")
    if model.rates is None:
        return drop("no fixed price")
    missing = sorted(needs.features - model.features)
    if missing:
        return drop("lacks " + ", ".join(missing))
    if needs.max_output is not None and needs.max_output > model.config.max_output:
        return drop(f"max output {model.config.max_output} < {needs.max_output} asked")
    output = needs.max_output if needs.max_output is not None else RANKING_OUTPUT_TOKENS
    if needs.prompt_tokens + output > model.config.context:
        return drop(f"context {model.config.context} < ~{needs.prompt_tokens} prompt + {output} output tokens")
    if health.status(model.deployments) == "down":
        return drop("down")
    cost = model.rates.estimate(needs.prompt_tokens, output)
    return Verdict(model, True, "capable", cost)


def _latency(health: Health, model: CatalogModel) -> float:
    observed = [x for x in (health.latency(d) for d in model.deployments) if x is not None]
    return min(observed) if observed else float("inf")


def _no_model_message(verdicts: list[Verdict], needs: Needs) -> str:
    if not verdicts:
        return "smart-route has no models for your tier."
    reasons = sorted({v.reason for v in verdicts})
    wanted = ", ".join(sorted(needs.features)) or "none"
    return (f"No model your tier may use can handle this request (needs: {wanted}; "
            f"~{needs.prompt_tokens} prompt tokens). Models were dropped because: {'; '.join(reasons)}.")
