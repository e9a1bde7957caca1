"""Model ID -> the candidate models to try, in order: tier check (403), features (400), or
smart-route's cheapest capable list."""

from __future__ import annotations

from farebox.accounts.directory import Principal
from farebox.errors import InvalidRequest, UnsupportedFeature
from farebox.routing.catalog import SMART_ROUTE, Catalog, CatalogModel
from farebox.routing.health import Health
from farebox.routing.needs import Needs, param_for
from farebox.routing.policy import choose


def resolve(catalog: Catalog, health: Health, principal: Principal, model_id: str,
            needs: Needs) -> list[CatalogModel]:
    max_n = principal.tier.max_n
    if needs.choices > max_n:  # every choice is held and billed: the tier bounds what one request costs
        raise InvalidRequest(f"n is too large: {needs.choices}. Your tier ({principal.tier_name}) allows at most "
                             f"{max_n} choices per request.", param="n")
    if model_id == SMART_ROUTE:
        return choose(catalog, health, principal.tier_name, needs)
    model = catalog.get(model_id)
    catalog.check_access(principal.tier_name, model)
    missing = sorted(needs.features - model.features)
    if missing:
        raise UnsupportedFeature(
            f"The model `{model.id}` does not support {', '.join(missing)}, which this request needs.",
            param=param_for(missing[0]))
    if needs.max_output is not None and needs.max_output > model.config.max_output:
        raise InvalidRequest(
            f"max_tokens is too large: {needs.max_output}. `{model.id}` supports at most "
            f"{model.config.max_output} completion tokens.", param="max_tokens")
    return [model]

