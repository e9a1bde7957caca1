"""Small translations every native adapter needs, and what they share of the Provider verbs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import msgspec

from farebox.config import ProviderConfig
from farebox.protocol.sse import SSEEvent, SSEStream
from farebox.providers.base import JSON, StreamChunk, Target, UpstreamRequest, batches_of_one, get_request
from farebox.providers.params import accepted_fields


class NativeAdapter:
    """The verbs the native adapters (Anthropic, Gemini) do alike: their fields are a fixed list
    (providers/params.py), their streams are translated event by event (batches of one), and a
    GET goes to their API root (`root`, e.g. https://api.anthropic.com/v1) with their headers."""

    config: ProviderConfig
    root: str
    headers: dict[str, str]

    def accepted_fields(self, target: Target) -> frozenset[str]:
        return accepted_fields(target)

    def parse_stream(self, events: AsyncIterator[SSEEvent], target: Target) -> AsyncIterator[JSON]:
        raise NotImplementedError

    def stream_batches(self, events: SSEStream, target: Target) -> AsyncIterator[list[StreamChunk]]:
        return batches_of_one(self.parse_stream(events, target))

    def get_request(self, path: str) -> UpstreamRequest:
        return get_request(self.root + path, self.headers)


def arguments_object(arguments: Any) -> JSON:
    """A tool call's arguments as an object: native APIs want one, OpenAI sends a JSON string
    that a model may have botched. A botched one is kept as {"arguments": raw} rather than
    refused, so the conversation goes on."""
    if isinstance(arguments, dict):
        return arguments
    if not arguments:
        return {}
    try:
        value = msgspec.json.decode(arguments)
    except (msgspec.DecodeError, TypeError):
        return {"arguments": arguments}
    return value if isinstance(value, dict) else {"arguments": value}
