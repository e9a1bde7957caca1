"""The model catalogue: what each model ID is, who may use it, what it can do and costs, and
where it runs. Built once from config; read-only on the hot path."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from farebox.billing.pricing import Rates
from farebox.config import FEATURES, Config, ModelConfig, deployments_of
from farebox.errors import ModelNotFound, TierDoesNotAllowModel
from farebox.providers.base import Target

SMART_ROUTE = "smart-route"


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
    def __init__(self, config: Config, adapter_features: Mapping[str, frozenset[str]]) -> None:
        """`adapter_features`: provider name -> the features its adapter can translate."""
        self.config = config
        self._adapter_features = adapter_features
        self.models: dict[str, CatalogModel] = {}
        self._wildcards: list[tuple[str, CatalogModel]] = []
        for model_id, model in config.models.items():
            entry = self._build(model_id, model)
            if model_id.endswith("/*"):
                self._wildcards.append((model_id[:-1], entry))
            else:
                self.models[model_id] = entry
        self._wildcards.sort(key=lambda item: -len(item[0]))  # longest prefix wins

    def _build(self, model_id: str, model: ModelConfig, upstream: str | None = None) -> CatalogModel:
        targets = tuple(
            Target(model_id, d.provider, self.config.providers[d.provider], upstream or d.model, model)
            for d in deployments_of(model, model_id)
        )
        features = set(model.features)
        if "tools" in features:
            features.add("tool_choice")  # every adapter that does tools does tool_choice
        for target in targets:
            features &= self._adapter_features.get(target.provider_name, frozenset(FEATURES))
        return CatalogModel(
            id=model_id, config=model,
            rates=None if model.price == "upstream" else Rates.from_price(model.price),
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
                return self._build(model_id, route.config, upstream=rest)
        raise ModelNotFound(f"The model `{model_id}` does not exist or you do not have access to it.",
                            param="model")

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


def adapter_features(adapters: Mapping[str, Any]) -> dict[str, frozenset[str]]:
    """Provider name -> the features its adapter translates (what Catalog takes)."""
    return {name: getattr(a, "supported_features", frozenset()) for name, a in adapters.items()}
