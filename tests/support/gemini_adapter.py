"""Shared bits of the Gemini adapter tests: a provider, a target, fixtures, SSE helpers."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import msgspec

from farebox.config import ModelConfig, Price, ProviderConfig
from farebox.protocol.sse import SSEEvent, iter_sse
from farebox.providers.base import Target
from farebox.providers.gemini import GeminiProvider

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "gemini"
KEY = "test-gemini-key"


def provider(base_url: str | None = None, **extra: Any) -> GeminiProvider:
    return GeminiProvider("google", ProviderConfig(kind="gemini", base_url=base_url, api_key=KEY, **extra))


def target(p: GeminiProvider, upstream_model: str = "gemini-2.5-flash", max_output: int = 8192) -> Target:
    model = ModelConfig(tier="pro", max_output=max_output, price=Price(input=0.3, output=2.5))
    return Target("gemini-flash", p.name, p.config, upstream_model, model)


def payload(body: dict[str, Any], **kw: Any) -> dict[str, Any]:
    """The Gemini JSON the adapter would POST for an OpenAI body."""
    p = provider()
    req = p.build_request(body, target(p, **kw), stream=False)
    result: dict[str, Any] = json.loads(req.body)
    return result


def fixture_bytes(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def fixture(name: str) -> dict[str, Any]:
    result: dict[str, Any] = json.loads(fixture_bytes(name))
    return result


async def sse_events(raw: bytes) -> AsyncIterator[SSEEvent]:
    async def lines() -> AsyncIterator[bytes]:
        for line in raw.splitlines(keepends=True):
            yield line

    async for event in iter_sse(lines()):
        yield event


async def collect(p: GeminiProvider, raw: bytes) -> list[dict[str, Any]]:
    return [chunk async for chunk in p.parse_stream(sse_events(raw), target(p))]


def encode_events(*events: dict[str, Any]) -> bytes:
    return b"".join(b"data: " + msgspec.json.encode(e) + b"\n\n" for e in events)
