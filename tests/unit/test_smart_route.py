"""smart-route at the policy level: a ten-model catalogue, requests with different needs, and
the cheapest capable model chosen (or the precise error when none can handle the request)."""

from __future__ import annotations

from typing import Any

import pytest

from farebox.config import parse_config
from farebox.errors import GatewayError
from farebox.providers.registry import build_adapters
from farebox.routing.catalog import Catalog, CatalogModel, adapter_features
from farebox.routing.health import Health
from farebox.routing.needs import Needs, request_needs
from farebox.routing.policy import RANKING_OUTPUT_TOKENS, choose, explain
from tests.support.catalogue import catalogue_yaml


class Clock:
    now = 1000.0

    def __call__(self) -> float:
        return self.now


def build() -> tuple[Catalog, Health]:
    config = parse_config(catalogue_yaml(), "test")
    return Catalog(config, adapter_features(build_adapters(config))), Health(config.circuit, clock=Clock())


def needs(*features: str, prompt: int = 200, max_output: int | None = None) -> Needs:
    return Needs(frozenset(features), prompt, max_output)


# (tier, needs, the model smart-route must choose first)
CHOICES: list[tuple[str, Needs, str]] = [
    ("starter", needs(), "tiny-8b"),  # the cheapest of all
    ("elite", needs(prompt=100), "reasoner"),  # elite's pool excludes tiny-8b and vip-only
    ("pro", needs(), "tiny-8b"),  # pro may use every starter model
    ("starter", needs("tools"), "coder-32b"),  # fast-a/b are cheaper but pro
    ("pro", needs("tools"), "fast-a"),  # fast-a = fast-b; no latency seen yet: config order
    ("starter", needs("tools", "tool_choice"), "coder-32b"),  # tools implies tool_choice
    ("starter", needs("vision"), "vision-lite"),
    ("pro", needs("vision", "tools"), "long-ctx"),
    ("starter", needs("json_schema"), "coder-32b"),
    ("starter", needs("logprobs"), "coder-32b"),
    ("elite", needs("prompt_cache"), "frontier"),
    # The ranking is by this request's cost: long-ctx has the cheaper input, reasoner the cheaper output.
    ("pro", needs("reasoning", prompt=1000), "long-ctx"),  # 300+1280 vs 550+1121 micro-USD
    ("pro", needs("reasoning", prompt=1000, max_output=4000), "reasoner"),  # 300+10000 vs 550+8760
    # Context: prompt + output must fit.
    ("starter", needs(prompt=8000), "vision-lite"),  # 8000 + 512 > tiny-8b's 8192
    ("starter", needs(prompt=7600, max_output=500), "tiny-8b"),  # 8100 fits in 8192
    ("starter", needs(prompt=50_000), "mid-chat"),
    ("starter", needs("tools", prompt=20_000), "mid-chat"),  # coder-32b's 16k is too short
    ("pro", needs("tools", prompt=20_000), "fast-a"),
    ("pro", needs(prompt=100_000), "long-ctx"),
    # max_tokens over a model's max output drops it.
    ("starter", needs(max_output=6000), "mid-chat"),  # the only starter model with max_output > 4096
    ("pro", needs(max_output=10_000), "reasoner"),
]


@pytest.mark.parametrize(("tier", "need", "expected"), CHOICES)
def test_chooses_the_cheapest_capable_model(tier: str, need: Needs, expected: str) -> None:
    catalog, health = build()
    chosen = choose(catalog, health, tier, need)
    assert chosen[0].id == expected
    output = need.max_output if need.max_output is not None else RANKING_OUTPUT_TOKENS
    for model in chosen:  # every candidate is capable, allowed, and in the pool
        assert need.features <= model.features
        assert catalog.allows(tier, model)
        assert need.prompt_tokens + output <= model.config.context
        pool = catalog.config.tiers[tier].smart_route
        assert pool is None or model.id in pool
    # An independent oracle: no capable model the tier may use is cheaper than the chosen one.
    capable = [m for m in catalog.models.values() if _capable(catalog, tier, m, need, output)]
    assert {m.id for m in capable} == {m.id for m in chosen}
    assert _cost(chosen[0], need, output) == min(_cost(m, need, output) for m in capable)
    costs = [_cost(m, need, output) for m in chosen]
    assert costs == sorted(costs)


def _capable(catalog: Catalog, tier: str, model: CatalogModel, need: Needs, output: int) -> bool:
    pool = catalog.config.tiers[tier].smart_route
    return (catalog.allows(tier, model) and (pool is None or model.id in pool)
            and need.features <= model.features and need.prompt_tokens + output <= model.config.context
            and (need.max_output is None or need.max_output <= model.config.max_output))


def _cost(model: CatalogModel, need: Needs, output: int) -> float:
    price = model.config.price
    assert not isinstance(price, str)
    return need.prompt_tokens * price.input + output * price.output


# (tier, needs, error code, words the message must contain)
FAILURES: list[tuple[str, Needs, str, str]] = [
    ("starter", needs("reasoning"), "unsupported_feature", "No model your tier (starter) may use supports reasoning"),
    ("pro", needs("prompt_cache"), "unsupported_feature", "supports prompt_cache"),
    ("starter", needs("vision", "tools"), "no_capable_model", "vision-lite: lacks tools"),
    ("starter", needs(prompt=100_000), "context_length_exceeded",
     "The prompt (~100000 tokens) plus 512 output tokens exceeds every model's context; the largest context "
     "your tier (starter) may use is 65536 tokens"),
    ("starter", needs(max_output=10_000), "invalid_request_error", "max_tokens is too large: 10000"),
    ("starter", needs("tools", prompt=70_000), "context_length_exceeded", "exceeds every model's context"),
]


@pytest.mark.parametrize(("tier", "need", "code", "message"), FAILURES)
def test_no_capable_model_names_the_unmet_need(tier: str, need: Needs, code: str, message: str) -> None:
    catalog, health = build()
    with pytest.raises(GatewayError) as caught:
        choose(catalog, health, tier, need)
    assert caught.value.status == 400
    assert caught.value.code == code
    assert message in caught.value.message


def _open(health: Health, model: CatalogModel) -> None:
    for deployment in model.deployments:
        for _ in range(health.policy.consecutive_failures):
            health.record_failure(deployment)


def test_a_down_model_is_skipped_and_comes_back_after_the_cooldown() -> None:
    catalog, health = build()
    _open(health, catalog.models["tiny-8b"])
    verdicts = explain(catalog, health, "starter", needs())
    assert verdicts[0].model.id == "vision-lite"
    dropped = {v.model.id: v.reason for v in verdicts if not v.kept}
    assert dropped["tiny-8b"].startswith("down")
    assert isinstance(health.clock, Clock)
    health.clock.now += health.policy.cooldown  # half-open: one probe may go
    assert choose(catalog, health, "starter", needs())[0].id == "tiny-8b"


def test_every_capable_model_down_is_503_not_400() -> None:
    catalog, health = build()
    _open(health, catalog.models["vision-lite"])
    with pytest.raises(GatewayError) as caught:
        choose(catalog, health, "starter", needs("vision"))
    assert caught.value.status == 503 and caught.value.code == "model_unavailable"
    assert "vision-lite" in caught.value.message


@pytest.mark.parametrize(("latency_a", "latency_b", "expected"), [(0.5, 0.1, "fast-b"), (0.1, 0.5, "fast-a")])
def test_equal_costs_break_by_observed_latency(latency_a: float, latency_b: float, expected: str) -> None:
    catalog, health = build()
    health.record_success("up/up-fast-a", latency_a)
    health.record_success("up/up-fast-b", latency_b)
    ranked = [m.id for m in choose(catalog, health, "pro", needs("tools"))]
    assert ranked[:2] == [expected, "fast-b" if expected == "fast-a" else "fast-a"]


def test_tier_pool_restricts_smart_route() -> None:
    catalog, health = build()
    ids = [v.model.id for v in explain(catalog, health, "elite", needs())]
    assert sorted(ids) == ["frontier", "long-ctx", "reasoner"]  # not tiny-8b, not vip-only


def test_starter_never_reaches_a_pro_model() -> None:
    catalog, health = build()
    for features in [(), ("tools",), ("vision",), ("json_object",)]:
        for prompt in (100, 20_000, 60_000):
            try:
                chosen = choose(catalog, health, "starter", needs(*features, prompt=prompt))
            except GatewayError:
                continue
            assert all(m.config.tier == "starter" for m in chosen)
    verdicts = explain(catalog, health, "starter", needs("reasoning"))
    assert {v.reason for v in verdicts if v.model.id in ("reasoner", "frontier")} == {
        "needs tier pro", "needs tier elite"}


def body(**fields: Any) -> dict[str, Any]:
    return {"model": "smart-route", "messages": [{"role": "user", "content": "hi"}], **fields}


IMAGE = {"role": "user", "content": [{"type": "text", "text": "what is this?"},
                                     {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}}]}
TOOL = {"type": "function", "function": {"name": "f", "parameters": {"type": "object"}}}


@pytest.mark.parametrize(("request_body", "features", "max_output"), [
    (body(), set(), None),
    (body(tools=[TOOL]), {"tools"}, None),
    (body(tools=[TOOL], tool_choice="auto"), {"tools"}, None),
    (body(tools=[TOOL], tool_choice="required"), {"tools", "tool_choice"}, None),
    (body(tools=[TOOL], tool_choice={"type": "function", "function": {"name": "f"}}), {"tools", "tool_choice"}, None),
    (body(tools=[]), set(), None),
    (body(response_format={"type": "text"}), set(), None),
    (body(response_format={"type": "json_object"}), {"json_object"}, None),
    (body(response_format={"type": "json_schema", "json_schema": {"name": "x"}}), {"json_schema"}, None),
    (body(logprobs=True, top_logprobs=3), {"logprobs"}, None),
    (body(logprobs=False), set(), None),
    (body(reasoning_effort="high"), {"reasoning"}, None),
    (body(reasoning_effort="none"), set(), None),
    (body(messages=[IMAGE]), {"vision"}, None),
    (body(max_tokens=300), set(), 300),
    (body(max_tokens=300, max_completion_tokens=200), set(), 300),  # both: the larger
    (body(n=2), {"n"}, None),
    (body(prompt_cache_key="k"), set(), None),  # a hint, not a need
])
def test_request_needs(request_body: dict[str, Any], features: set[str], max_output: int | None) -> None:
    result = request_needs(request_body)
    assert result.features == frozenset(features)
    assert result.max_output == max_output
    assert result.prompt_tokens > 0


def test_prompt_estimate_grows_with_the_prompt() -> None:
    short = request_needs(body()).prompt_tokens
    long = request_needs(body(messages=[{"role": "user", "content": "word " * 2000}])).prompt_tokens
    assert long > short + 1000
