"""The native Anthropic Messages API adapter (`kind: anthropic`).

POST {base_url}/v1/messages, base_url being the host root (default https://api.anthropic.com),
with x-api-key and anthropic-version headers. The translation lives in request.py / messages.py
(OpenAI -> Anthropic), response.py and stream.py (Anthropic -> OpenAI) and errors.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import msgspec

from farebox.config import ProviderConfig
from farebox.protocol.sse import SSEEvent
from farebox.providers.anthropic.errors import map_error
from farebox.providers.anthropic.request import build_payload
from farebox.providers.anthropic.request import output_allowance as body_allowance
from farebox.providers.anthropic.response import to_completion
from farebox.providers.anthropic.stream import translate_stream
from farebox.providers.base import JSON, Target, UpstreamError, UpstreamRequest, without_fields
from farebox.providers.params import ALL_FEATURES
from farebox.providers.translate import NativeAdapter

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"

_encode = msgspec.json.Encoder().encode


class AnthropicProvider(NativeAdapter):
    supported_features: frozenset[str] = ALL_FEATURES - {"logprobs"}  # the Messages API has none

    def __init__(self, name: str, config: ProviderConfig) -> None:
        self.name = name
        self.config = config
        base = (config.base_url or DEFAULT_BASE_URL).rstrip("/")
        # Accept a base_url given with /v1 too (as for OpenAI-style providers).
        self.root = f"{base.removesuffix('/v1')}/v1"
        self.url = f"{self.root}/messages"
        self.headers = {"anthropic-version": API_VERSION, "content-type": "application/json"}
        if config.api_key:
            self.headers["x-api-key"] = config.api_key
        self.headers.update(config.headers)  # e.g. anthropic-beta, or a proxy's own auth
        self.drop_params = frozenset(config.drop_params)
        # from the Messages body too, but never max_tokens: required, and what the hold is sized from
        self.drop_sent = self.drop_params - {"max_tokens"}

    def output_allowance(self, body: JSON, target: Target) -> int:
        return output_allowance(body, target)

    def build_request(self, body: JSON, target: Target, *, stream: bool) -> UpstreamRequest:
        out = build_payload(without_fields(body, self.drop_params), upstream_model=target.upstream_model,
                         max_output=target.model_config.max_output, stream=stream)
        out = without_fields(out, self.drop_sent)
        return UpstreamRequest(self.url, dict(self.headers), _encode(out), out["max_tokens"])

    def parse_response(self, body: bytes, target: Target) -> JSON:
        return to_completion(body, target.upstream_model)

    def parse_stream(self, events: AsyncIterator[SSEEvent], target: Target) -> AsyncIterator[JSON]:
        return translate_stream(events, target.upstream_model)

    def map_error(self, status: int, body: bytes, headers: dict[str, str]) -> UpstreamError:
        return map_error(status, body, headers)


def output_allowance(body: JSON, target: Target) -> int:
    """The most max_tokens build_request sends, from the config alone (pipeline/reserve.py)."""
    return body_allowance(without_fields(body, target.provider.drop_params), upstream_model=target.upstream_model,
                          max_output=target.model_config.max_output)
