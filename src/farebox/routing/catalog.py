"""The model catalogue: what each model ID is, who may use it, what it can do and costs, and
where it runs. Built once from config; read-only on the hot path."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

import msgspec

from farebox.billing.pricing import Rates
from farebox.config import FEATURES, Config, ModelConfig, deployments_of
from farebox.errors import InvalidRequest, ModelNotFound, ServiceUnavailable, TierDoesNotAllowModel, shown
from farebox.providers.base import Provider, Target
from farebox.routing.pricebook import PriceBook, UpstreamModel

SMART_ROUTE = "smart-route"
# What a wildcard route's suffix (the upstream model name) may be: name segments of letters,
# digits and . _ : - joined by single slashes; no "." or ".." segment (checked apart).
WILDCARD_NAME = re.compile(r"[A-Za-z0-9._:-]+(?:/[A-Za-z0-9._:-]+)*")
MAX_WILDCARD_NAME = 200


@dataclass(frozen=True, slots=True)
class CatalogModel:
    id: str
    config: ModelConfig
    rates: Rates | None  # None: priced from the upstream's table (wildcard routes)
    tier_rank: int
    features: frozenset[str]
    targets: tuple[Target, ...]
    wildcard: bool = False

    @property
    def deployments(self) -> list[str]:
        return [t.deployment for t in self.targets]


class Catalog:
    def __init__(self, config: Config, adapter_features: Mapping[str, frozenset[str]],
                 pricebook: PriceBook | None = None) -> None:
        """`adapter_features`: provider name -> the features its adapter can translate;
        `pricebook`: the upstream price tables of wildcard routes priced `upstream`."""
        self.config = config
        self._adapter_features = adapter_features
        self.pricebook = pricebook or PriceBook()
        # wildcard model id -> (the price entry it was built from, the model): rebuilt on refresh
        self._priced: dict[str, tuple[UpstreamModel, CatalogModel]] = {}
        self.models: dict[str, CatalogModel] = {}
        self._wildcards: list[tuple[str, CatalogModel]] = []
        for model_id, model in config.models.items():
            entry = self._build(model_id, model)
            if model_id.endswith("/*"):
                self._wildcards.append((model_id[:-1], entry))
            else:
                self.models[model_id] = entry
        self._wildcards.sort(key=lambda item: -len(item[0]))  # longest prefix wins

    def _build(self, model_id: str, model: ModelConfig, upstream: str | None = None,
               rates: Rates | None = None) -> CatalogModel:
        targets = tuple(
            Target(model_id, d.provider, self.config.providers[d.provider], upstream or d.model, model)
            for d in deployments_of(model, model_id)
        )
        features = set(model.features) | {"n"}  # n > 1: kept only if every deployment's adapter can
        if "tools" in features:
            features.add("tool_choice")  # every adapter that does tools does tool_choice
        for target in targets:
            features &= self._adapter_features.get(target.provider_name, frozenset(FEATURES))
        return CatalogModel(
            id=model_id, config=model,
            rates=rates if model.price == "upstream" else Rates.from_price(model.price),
            tier_rank=self.config.tiers[model.tier].rank, features=frozenset(features), targets=targets,
            wildcard=model_id.endswith("/*"),
        )

    def get(self, model_id: str) -> CatalogModel:
        model = self.models.get(model_id)
        if model is not None:
            return model
        for prefix, route in self._wildcards:
            rest = model_id[len(prefix):]
            if model_id.startswith(prefix) and rest and "*" not in rest:
                check_wildcard_name(model_id, rest)
                if route.config.price == "upstream":
                    return self._priced_route(model_id, route.config, rest)
                return self._build(model_id, route.config, upstream=rest)
        raise ModelNotFound(f"The model `{shown(model_id)}` does not exist or you do not have access to it.",
                            param="model")

    def _priced_route(self, model_id: str, route: ModelConfig, upstream: str) -> CatalogModel:
        """A wildcard model priced from its provider's table: real rates, context and max output."""
        provider = route.provider or ""
        entry = self.pricebook.lookup(provider, upstream)
        if entry is None:
            if not self.pricebook.loaded(provider):
                raise ServiceUnavailable(f"The price table of `{provider}` is not loaded yet, so `{model_id}` "
                                         "cannot be priced; try again shortly.")
            raise ModelNotFound(f"The model `{shown(model_id)}` does not exist or you do not have access to it.",
                                param="model")
        cached = self._priced.get(model_id)
        if cached is not None and cached[0] is entry:
            return cached[1]
        config = msgspec.structs.replace(route, context=entry.context or route.context,
                                         max_output=entry.max_output or route.max_output)
        model = self._build(model_id, config, upstream=upstream, rates=entry.rates)
        self._priced[model_id] = (entry, model)
        return model

    def tier_rank(self, tier: str) -> int:
        return self.config.tiers[tier].rank

    def allows(self, tier: str, model: CatalogModel) -> bool:
        return self.tier_rank(tier) >= model.tier_rank

    def check_access(self, tier: str, model: CatalogModel) -> None:
        if not self.allows(tier, model):
            raise TierDoesNotAllowModel(
                f"Your tier ({tier}) can't select {model.id}; it needs {model.config.tier} or above.",
                param="model")

    def visible(self, tier: str) -> list[CatalogModel]:
        """Models (not wildcard routes) the tier may use, in config order."""
        return [m for m in self.models.values() if self.allows(tier, m)]

    def wildcard_routes(self, tier: str) -> list[CatalogModel]:
        return [m for _, m in self._wildcards if self.allows(tier, m)]


def check_wildcard_name(model_id: str, name: str) -> None:
    """A wildcard's suffix goes upstream (in a body, or a URL path): 400 on anything that could
    step out of its place (`..`, `?`, `%`, `#`, spaces...), before any upstream is called."""
    if len(name) > MAX_WILDCARD_NAME or not WILDCARD_NAME.fullmatch(name) \
            or any(segment in (".", "..") for segment in name.split("/")):
        raise InvalidRequest(
            f"`{model_id[:MAX_WILDCARD_NAME + 40]}` is not a valid model name: after the route's prefix, use "
            "letters, digits and . _ : - in segments joined by /, without . or .. segments.", param="model")


def adapter_features(adapters: Mapping[str, Provider]) -> dict[str, frozenset[str]]:
    """Provider name -> the features its adapter translates (what Catalog takes)."""
    return {name: a.supported_features for name, a in adapters.items()}
