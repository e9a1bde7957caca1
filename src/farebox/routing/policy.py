"""smart-route: among the models a tier allows that can handle the request, cheapest first.

A model can handle a request when it has every feature the request needs, its max output covers
the asked max_tokens, its context holds the prompt plus the output allowance, and it is not down.
Capable models are ranked by the request's expected cost (prompt tokens at the input price plus
the output allowance at the output price); ties break by observed latency, then config order.
"""

from __future__ import annotations

from dataclasses import dataclass

from farebox.errors import (
    ContextLengthExceeded,
    GatewayError,
    InvalidRequest,
    ModelUnavailable,
    NoCapableModel,
    UnsupportedFeature,
)
from farebox.money import TOKENS_PER_PRICE_UNIT
from farebox.routing.catalog import Catalog, CatalogModel
from farebox.routing.health import Health
from farebox.routing.needs import Needs, param_for

RANKING_OUTPUT_TOKENS = 512  # output assumed (for context fit and ranking) when no max_tokens is set

# Verdict checks, in the order they are applied.
KEPT, TIER, PRICE, FEATURE, MAX_OUTPUT, CONTEXT, DOWN = (
    "kept", "tier", "price", "feature", "max_output", "context", "down")


@dataclass(frozen=True, slots=True)
class Verdict:
    model: CatalogModel
    kept: bool
    reason: str  # for people: "capable", "lacks vision", "context 8192 < ~9000 prompt + 512 output"...
    estimated_cost_nano: int | None
    check: str = KEPT  # for code: which check dropped it (KEPT when kept)


def ranking_output(needs: Needs) -> int:
    """The output tokens smart-route plans for: max_tokens when set, else RANKING_OUTPUT_TOKENS."""
    return needs.max_output if needs.max_output is not None else RANKING_OUTPUT_TOKENS


def pool(catalog: Catalog, tier: str) -> list[CatalogModel]:
    """The tier's smart-route pool (tiers.<t>.smart_route, else every model), in config order."""
    restricted = catalog.config.tiers[tier].smart_route
    if restricted is None:
        return list(catalog.models.values())
    return [m for m in catalog.models.values() if m.id in restricted]


def explain(catalog: Catalog, health: Health, tier: str, needs: Needs) -> list[Verdict]:
    """Every model of the tier's smart-route pool, kept or dropped with the reason, kept ones
    in the order smart-route would try them, then the dropped ones in config order."""
    verdicts = [_judge(catalog, health, tier, needs, model) for model in pool(catalog, tier)]
    kept = sorted((v for v in verdicts if v.kept), key=lambda v: (
        v.estimated_cost_nano or 0, _latency(health, v.model)))
    return kept + [v for v in verdicts if not v.kept]


def choose(catalog: Catalog, health: Health, tier: str, needs: Needs) -> list[CatalogModel]:
    return pick(catalog, tier, needs, explain(catalog, health, tier, needs))


def pick(catalog: Catalog, tier: str, needs: Needs, verdicts: list[Verdict]) -> list[CatalogModel]:
    """The kept models in order, or the error saying which need no model met."""
    kept = [v.model for v in verdicts if v.kept]
    if not kept:
        raise no_capable_model(catalog, tier, needs, verdicts)
    return kept


def _judge(catalog: Catalog, health: Health, tier: str, needs: Needs, model: CatalogModel) -> Verdict:
    def drop(check: str, reason: str) -> Verdict:
        return Verdict(model, False, reason, None, check)

    if not catalog.allows(tier, model):
        return drop(TIER, f"needs tier {model.config.tier}")
    if model.rates is None:
        return drop(PRICE, "no fixed price")
    missing = sorted(needs.features - model.features)
    if missing:
        return drop(FEATURE, "lacks " + ", ".join(missing))
    if needs.max_output is not None and needs.max_output > model.config.max_output:
        return drop(MAX_OUTPUT, f"max output {model.config.max_output} < {needs.max_output} asked")
    output = ranking_output(needs)
    if needs.prompt_tokens + output > model.config.context:
        return drop(CONTEXT, f"context {model.config.context} < ~{needs.prompt_tokens} prompt + {output} output")
    if health.status(model.deployments) == "down":
        return drop(DOWN, "down (every deployment's circuit is open)")
    numerator = needs.prompt_tokens * model.rates.input + output * model.rates.output
    return Verdict(model, True, "capable", -(-numerator // TOKENS_PER_PRICE_UNIT))


def _latency(health: Health, model: CatalogModel) -> float:
    observed = [x for x in (health.latency(d) for d in model.deployments) if x is not None]
    return min(observed) if observed else float("inf")


def no_capable_model(catalog: Catalog, tier: str, needs: Needs, verdicts: list[Verdict]) -> GatewayError:
    """The most precise error: the one need no model of the pool meets, else why none meets all."""
    usable = [v.model for v in verdicts if v.check not in (TIER, PRICE)]
    if not usable:
        return NoCapableModel(f"smart-route has no model your tier ({tier}) may use.", param="model")
    unmet = [f for f in sorted(needs.features) if not any(f in m.features for m in usable)]
    if unmet:
        return UnsupportedFeature(
            f"No model your tier ({tier}) may use supports {' or '.join(unmet)}, which this request needs.",
            param=param_for(unmet[0]))
    if needs.max_output is not None and all(needs.max_output > m.config.max_output for m in usable):
        largest = max(m.config.max_output for m in usable)
        return InvalidRequest(
            f"max_tokens is too large: {needs.max_output}. The largest output any model your tier ({tier}) "
            f"may use allows is {largest} tokens.", param="max_tokens")
    output = ranking_output(needs)
    if all(needs.prompt_tokens + output > m.config.context for m in usable):
        largest = max(m.config.context for m in usable)
        return ContextLengthExceeded(
            f"The prompt (~{needs.prompt_tokens} tokens) plus {output} output tokens exceeds every model's "
            f"context; the largest context your tier ({tier}) may use is {largest} tokens.", param="messages")
    down = [v.model.id for v in verdicts if v.check == DOWN]
    if down:  # a down model passed every other check: the request is fine, the capacity is not
        return ModelUnavailable(
            f"Every model that can handle this request is down right now ({', '.join(down)}); retry shortly.")
    dropped = [v for v in verdicts if v.check not in (TIER, PRICE)]
    wanted = ", ".join(sorted(needs.features)) or "no special features"
    why = "; ".join(f"{v.model.id}: {v.reason}" for v in dropped)
    return NoCapableModel(
        f"No single model your tier ({tier}) may use meets all of this request's needs ({wanted}; "
        f"~{needs.prompt_tokens} prompt + {output} output tokens): {why}.", param="model")
