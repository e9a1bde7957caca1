"""Ordering a model's deployments: the best priority first, spread by weight within a priority.
Open circuits are skipped by the caller (pipeline/failover.py), without a network call."""

from __future__ import annotations

import random

from farebox.providers.base import Target
from farebox.routing.catalog import CatalogModel


def ordered_targets(model: CatalogModel, rng: random.Random = random._inst) -> list[Target]:
    deployments = model.config.deployments
    if len(model.targets) <= 1 or not deployments:
        return list(model.targets)
    by_priority: dict[int, list[tuple[Target, int]]] = {}
    for target, deployment in zip(model.targets, deployments, strict=True):
        by_priority.setdefault(deployment.priority, []).append((target, deployment.weight))
    ordered: list[Target] = []
    for priority in sorted(by_priority):
        ordered.extend(_weighted_shuffle(by_priority[priority], rng))
    return ordered


def _weighted_shuffle(items: list[tuple[Target, int]], rng: random.Random) -> list[Target]:
    # Efraimidis-Spirakis: sort by u^(1/w); higher weights tend to come first.
    keyed = sorted(items, key=lambda item: rng.random() ** (1.0 / item[1]), reverse=True)
    return [target for target, _ in keyed]
