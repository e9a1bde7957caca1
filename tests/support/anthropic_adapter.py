"""Shared bits for the Anthropic adapter tests: a provider, a target, fixtures, stream helpers."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec

from farebox.config import ModelConfig, Price, ProviderConfig
from farebox.protocol.sse import iter_sse
from farebox.providers.anthropic import AnthropicProvider
from farebox.providers.base import Target
from tests.spec import assert_valid

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "anthropic"
UPSTREAM_MODEL = "claude-sonnet-4-5-20250929"


def make_provider(**config: Any) -> AnthropicProvider:
    config.setdefault("api_key", "sk-ant-test")
    return AnthropicProvider("anthropic", ProviderConfig(kind="anthropic", **config))


def make_target(
    provider: AnthropicProvider, *, max_output: int = 8192, upstream_model: str = UPSTREAM_MODEL
) -> Target:
    model = ModelConfig(tier="pro", max_output=max_output, price=Price(input=3.0, output=15.0))
    return Target("claude-sonnet", "anthropic", provider.config, upstream_model, model)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def build(
    body: dict[str, Any],
    *,
    stream: bool = False,
    max_output: int = 8192,
    upstream_model: str = UPSTREAM_MODEL,
    **config: Any,
) -> dict[str, Any]:
    """The Anthropic body the adapter sends for an OpenAI body."""
    provider = make_provider(**config)
    target = make_target(provider, max_output=max_output, upstream_model=upstream_model)
    request = provider.build_request(body, target, stream=stream)
    decoded: dict[str, Any] = msgspec.json.decode(request.body)
    return decoded


async def _lines(raw: bytes) -> AsyncIterator[bytes]:
    for line in raw.splitlines(keepends=True):
        yield line


async def translate(raw: bytes) -> list[dict[str, Any]]:
    """Every chunk parse_stream makes of a recorded SSE stream, each checked against the spec."""
    provider = make_provider()
    chunks = [c async for c in provider.parse_stream(iter_sse(_lines(raw)), make_target(provider))]
    for chunk in chunks:
        assert_valid(chunk, "CreateChatCompletionStreamResponse")
    return chunks


def content_of(chunks: list[dict[str, Any]], field: str = "content") -> str:
    return "".join(c["choices"][0]["delta"].get(field) or "" for c in chunks if c["choices"])
