"""GET /v1/models?metadata=true, /v1/model-metadata and ?filter=agents through a real gateway:
OpenAI's list shape at the top level (checked against the official spec), the openai SDK still
parsing it, and the metadata fields per model."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from tests.fakes.fake_openai import FakeOpenAI
from tests.spec import assert_valid
from tests.support import http
from tests.support.catalogue import catalogue_yaml
from tests.support.gateway import Gateway

STARTER_MODELS = ["tiny-8b", "vision-lite", "coder-32b", "mid-chat"]
PRO_MODELS = STARTER_MODELS + ["fast-a", "fast-b", "reasoner", "long-ctx"]
FIELDS = {"id", "object", "created", "owned_by", "kind", "description", "tier", "context_length",
          "max_output_tokens", "modalities", "pricing", "pricing_per_million", "supported_features",
          "supported_parameters", "status"}


@pytest.fixture
def gateway(fake_openai: FakeOpenAI, make_gateway: Callable[[str], Gateway]) -> Gateway:
    return make_gateway(catalogue_yaml(fake_openai.base_url))


def get(gateway: Gateway, key: str, path: str) -> Any:
    reply = http.get(f"{gateway.base_url}{path}", headers={"Authorization": f"Bearer {key}"})
    assert reply.status_code == 200, reply.text
    return reply.json()


def by_id(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {item["id"]: item for item in doc["data"]}


def test_metadata_lists_what_the_tier_may_use(gateway: Gateway) -> None:
    doc = get(gateway, gateway.account("s", "starter"), "/models?metadata=true")
    assert_valid(doc, "ListModelsResponse")
    assert [m["id"] for m in doc["data"]] == ["smart-route"] + STARTER_MODELS
    assert all(set(item) == FIELDS for item in doc["data"])
    pro = get(gateway, gateway.account("p", "pro"), "/model-metadata")
    assert_valid(pro, "ListModelsResponse")
    assert [m["id"] for m in pro["data"]] == ["smart-route"] + PRO_MODELS + ["openrouter/*"]


def test_metadata_fields(gateway: Gateway) -> None:
    models = by_id(get(gateway, gateway.account("p", "pro"), "/models?metadata=true"))
    coder = models["coder-32b"]
    assert coder["object"] == "model" and coder["owned_by"] == "up" and coder["kind"] == "model"
    assert (coder["tier"], coder["context_length"], coder["max_output_tokens"]) == ("starter", 16384, 4096)
    assert coder["pricing"] == {"prompt": "0.0000002", "completion": "0.0000006",
                                "input_cache_read": "0.00000005", "input_cache_write": "0.0000002"}
    assert coder["pricing_per_million"] == {"prompt": "0.2", "completion": "0.6", "input_cache_read": "0.05",
                                            "input_cache_write": "0.2"}
    assert coder["supported_features"] == ["tools", "tool_choice", "json_object", "json_schema", "logprobs"]
    for param in ("tools", "tool_choice", "response_format", "logprobs", "top_logprobs", "temperature",
                  "max_tokens", "seed"):
        assert param in coder["supported_parameters"]
    assert "reasoning_effort" not in coder["supported_parameters"]
    assert coder["modalities"] == {"input": ["text"], "output": ["text"]}
    assert coder["status"] == "live"
    assert models["vision-lite"]["modalities"]["input"] == ["text", "image"]  # vision implies image input
    assert models["long-ctx"]["description"] == "Long-context multimodal model."
    assert "reasoning_effort" in models["long-ctx"]["supported_parameters"]
    smart = models["smart-route"]
    assert smart["kind"] == "router" and smart["pricing"] is None and smart["tier"] == "starter"
    assert smart["context_length"] == 1048576 and "vision" in smart["supported_features"]
    wildcard = models["openrouter/*"]
    assert wildcard["kind"] == "wildcard" and wildcard["pricing"] is None and wildcard["tier"] == "pro"


def test_elite_smart_route_entry_describes_its_pool(gateway: Gateway) -> None:
    smart = by_id(get(gateway, gateway.account("e", "elite"), "/model-metadata"))["smart-route"]
    assert smart["tier"] == "pro"  # reasoner and long-ctx, the pool's lowest
    assert smart["description"].endswith("reasoner, long-ctx, frontier.")
    assert smart["supported_features"] == ["tools", "tool_choice", "json_object", "json_schema", "vision",
                                           "logprobs", "reasoning", "prompt_cache"]


def test_status_follows_the_routing_health(gateway: Gateway) -> None:
    key = gateway.account("h", "starter")
    health = gateway.runtime.health

    async def open_circuits(deployments: list[str]) -> None:
        for deployment in deployments:
            for _ in range(health.policy.consecutive_failures):
                health.record_failure(deployment)

    gateway.run(open_circuits(["up/up-tiny-8b"]))
    models = by_id(get(gateway, key, "/models?metadata=true"))
    assert models["tiny-8b"]["status"] == "down" and models["coder-32b"]["status"] == "live"
    assert models["smart-route"]["status"] == "live"
    gateway.run(open_circuits([f"up/up-{m}" for m in STARTER_MODELS]))
    assert by_id(get(gateway, key, "/models?metadata=true"))["smart-route"]["status"] == "down"


def test_filter_agents(gateway: Gateway) -> None:
    key = gateway.account("a", "pro")
    doc = get(gateway, key, "/models?metadata=true&filter=agents")
    assert_valid(doc, "ListModelsResponse")
    # tools + tool_choice + context >= 32768; coder-32b (16k) and reasoner (no tools) are out
    assert [m["id"] for m in doc["data"]] == ["smart-route", "mid-chat", "fast-a", "fast-b", "long-ctx",
                                              "openrouter/*"]
    for item in doc["data"]:
        assert {"tools", "tool_choice"} <= set(item["supported_features"]) and item["context_length"] >= 32768
    plain = get(gateway, key, "/models?filter=agents")
    assert [m["id"] for m in plain["data"]] == ["smart-route", "mid-chat", "fast-a", "fast-b", "long-ctx"]
    assert all(set(item) == {"id", "object", "created", "owned_by"} for item in plain["data"])


def test_plain_models_keeps_openais_exact_shape(gateway: Gateway) -> None:
    key = gateway.account("plain", "starter")
    doc = get(gateway, key, "/models")
    assert_valid(doc, "ListModelsResponse")
    assert [m["id"] for m in doc["data"]] == ["smart-route"] + STARTER_MODELS
    assert all(set(item) == {"id", "object", "created", "owned_by"} for item in doc["data"])
    assert doc == get(gateway, key, "/models?metadata=false")


def test_the_openai_sdk_parses_metadata(gateway: Gateway) -> None:
    client = gateway.client(gateway.account("sdk", "pro"))
    page = client.models.list(extra_query={"metadata": "true"})
    models = {m.id: m for m in page.data}
    assert list(models) == ["smart-route"] + PRO_MODELS + ["openrouter/*"]
    assert models["coder-32b"].model_extra is not None
    assert models["coder-32b"].model_extra["context_length"] == 16384
    one = client.models.retrieve("long-ctx", extra_query={"metadata": "true"})
    assert one.id == "long-ctx" and one.model_extra is not None and one.model_extra["tier"] == "pro"
    assert_valid(one.model_dump(), "Model")
    smart = client.models.retrieve("smart-route", extra_query={"metadata": "true"})
    assert smart.model_extra is not None and smart.model_extra["kind"] == "router"


@pytest.mark.parametrize("query", ["metadata=yes", "filter=cheap"])
def test_bad_query_values_are_400(gateway: Gateway, query: str) -> None:
    key = gateway.account("bad", "starter")
    reply = http.get(f"{gateway.base_url}/models?{query}", headers={"Authorization": f"Bearer {key}"})
    assert reply.status_code == 400
    assert reply.json()["error"]["param"] == query.split("=")[0]


def test_metadata_needs_a_key(gateway: Gateway) -> None:
    reply = http.get(f"{gateway.base_url}/model-metadata")
    assert reply.status_code == 401 and reply.json()["error"]["code"] == "invalid_api_key"
