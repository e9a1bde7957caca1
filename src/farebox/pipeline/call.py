"""The state of one chat request as it moves through the stages."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from farebox.accounts.directory import Principal
from farebox.providers.base import Target
from farebox.routing.catalog import CatalogModel
from farebox.routing.needs import Needs


@dataclass
class Call:
    request_id: str
    principal: Principal
    body: dict[str, Any]
    requested_model: str
    stream: bool
    include_usage: bool
    needs: Needs
    candidates: list[CatalogModel] = field(default_factory=list)
    hold_nano: int = 0
    started: float = field(default_factory=time.perf_counter)
    created: int = field(default_factory=lambda: int(time.time()))
    first_byte: float | None = None
    # "model" on this path: requested_model is what the client asked for (a model id or
    # smart-route), served_model the catalog's model that answered (model_used is its id),
    # target the deployment of it and target.upstream_model the name the upstream knows.
    served_model: CatalogModel | None = None
    target: Target | None = None  # the deployment that answered
    upstream: Target | None = None  # the deployment working on it now: sent, no answer yet
    attempts: list[dict[str, Any]] = field(default_factory=list)
    cost_nano: int | None = None
    prompt_tokens: int = 0
    completion_tokens: int = 0
    outcome: str = "pending"
    settled: bool = False

    @property
    def completion_id(self) -> str:
        return f"chatcmpl-{self.request_id}"

    @property
    def model_used(self) -> str | None:
        return self.served_model.id if self.served_model else None

    def elapsed_ms(self, since: float | None = None) -> float:
        return round(((since or time.perf_counter()) - self.started) * 1000, 3)
