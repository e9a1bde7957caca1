"""routing/metadata.py without a server: prices as exact decimal strings, parameters per provider
kind, statuses, and the agents filter's configurable minimum context."""

from __future__ import annotations

from farebox.config import parse_config
from farebox.providers.registry import build_adapters
from farebox.routing.catalog import Catalog, adapter_features
from farebox.routing.health import Health
from farebox.routing.metadata import list_metadata

CONFIG = """
catalog: {agents_min_context: 100000}
tiers:
  starter: {rank: 1, rpm: 60}
providers:
  oa: {kind: openai, base_url: "http://127.0.0.1:9/v1"}
  claude: {kind: anthropic, api_key: x}
models:
  odd-price:
    tier: starter
    context: 128000
    price: {input: 0.0375, output: 15, cached_input: 0.003, cache_write: 0.046875}
    features: [tools]
    deployments: [{provider: oa, model: a}, {provider: oa, model: b}]
  sonnet:
    tier: starter
    context: 200000
    max_output: 64000
    price: {input: 3, output: 15}
    features: [tools, vision, reasoning, prompt_cache]
    modalities: {input: [text, image, file], output: [text]}
    deployments: [{provider: claude, model: claude-sonnet-4-5}]
  small:
    tier: starter
    context: 32768
    price: {input: 0.1, output: 0.1}
    features: [tools]
    deployments: [{provider: oa, model: small}]
"""


def build() -> tuple[Catalog, Health]:
    config = parse_config(CONFIG, "test")
    return Catalog(config, adapter_features(build_adapters(config))), Health(config.circuit)


def test_prices_are_exact_decimal_strings() -> None:
    catalog, health = build()
    odd = {m["id"]: m for m in list_metadata(catalog, health, "starter")}["odd-price"]
    assert odd["pricing"] == {"prompt": "0.0000000375", "completion": "0.000015",
                              "input_cache_read": "0.000000003", "input_cache_write": "0.000000046875"}
    assert odd["pricing_per_million"] == {"prompt": "0.0375", "completion": "15", "input_cache_read": "0.003",
                                          "input_cache_write": "0.046875"}


def test_parameters_follow_the_provider_kind_and_features() -> None:
    catalog, health = build()
    models = {m["id"]: m for m in list_metadata(catalog, health, "starter")}
    sonnet = models["sonnet"]
    assert "top_k" in sonnet["supported_parameters"] and "seed" not in sonnet["supported_parameters"]
    assert {"tools", "tool_choice", "reasoning_effort", "prompt_cache_key"} <= set(sonnet["supported_parameters"])
    assert sonnet["modalities"] == {"input": ["text", "image", "file"], "output": ["text"]}
    assert "seed" in models["odd-price"]["supported_parameters"]
    assert "top_k" not in models["odd-price"]["supported_parameters"]
    smart = set(models["smart-route"]["supported_parameters"])  # sampling: what every model honours
    assert "seed" not in smart and "top_k" not in smart and {"temperature", "tools", "reasoning_effort"} <= smart


def test_status_live_degraded_down() -> None:
    catalog, health = build()
    for _ in range(health.policy.consecutive_failures):
        health.record_failure("oa/a")
    assert {m["id"]: m["status"] for m in list_metadata(catalog, health, "starter")}["odd-price"] == "degraded"
    for _ in range(health.policy.consecutive_failures):
        health.record_failure("oa/b")
    models = {m["id"]: m["status"] for m in list_metadata(catalog, health, "starter")}
    assert models["odd-price"] == "down" and models["sonnet"] == "live" and models["smart-route"] == "live"


def test_agents_min_context_is_configurable() -> None:
    catalog, health = build()
    agents = list_metadata(catalog, health, "starter", "agents")
    assert [m["id"] for m in agents] == ["smart-route", "odd-price", "sonnet"]  # small (32k) is out
    assert agents[0]["context_length"] == 200000
