"""The native Google Gemini API adapter (`kind: gemini`).

base_url is the host root (default https://generativelanguage.googleapis.com); requests go to
/v1beta/models/{model}:generateContent, or :streamGenerateContent?alt=sse when streaming. The
key travels in the x-goog-api-key header, never in the URL, so it cannot leak into access logs.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import msgspec

from farebox.config import ProviderConfig
from farebox.protocol.gemini import response_decoder
from farebox.protocol.sse import SSEEvent
from farebox.providers.base import JSON, Target, UpstreamError, UpstreamRequest, path_segment, without_fields
from farebox.providers.gemini.errors import classify, map_error
from farebox.providers.gemini.request import build_payload
from farebox.providers.gemini.request import output_allowance as payload_allowance
from farebox.providers.gemini.response import to_completion
from farebox.providers.gemini.stream import translate_stream
from farebox.providers.params import ALL_FEATURES
from farebox.providers.translate import NativeAdapter

DEFAULT_BASE_URL = "https://generativelanguage.googleapis.com"

__all__ = ["DEFAULT_BASE_URL", "GeminiProvider"]


class GeminiProvider(NativeAdapter):
    supported_features: frozenset[str] = ALL_FEATURES | {"n"}  # n -> candidateCount

    def __init__(self, name: str, config: ProviderConfig) -> None:
        self.name = name
        self.config = config
        self.root = (config.base_url or DEFAULT_BASE_URL).rstrip("/") + "/v1beta"
        self.headers = {"content-type": "application/json", **config.headers}
        if config.api_key:
            self.headers["x-goog-api-key"] = config.api_key
        self._drop = frozenset(config.drop_params)
        if "n" in self._drop:  # candidateCount never sent: one choice only
            self.supported_features = self.supported_features - {"n"}
        self._encoder = msgspec.json.Encoder()

    def output_allowance(self, body: JSON, target: Target) -> int:
        return output_allowance(body, target)

    def build_request(self, body: JSON, target: Target, *, stream: bool) -> UpstreamRequest:
        body = without_fields(body, self._drop)
        payload = build_payload(body, target.model_config.max_output)
        method = ":streamGenerateContent?alt=sse" if stream else ":generateContent"
        url = f"{self.root}/{model_resource(target.upstream_model)}{method}"
        config = payload["generationConfig"]
        allowance = config["maxOutputTokens"] * config.get("candidateCount", 1)
        return UpstreamRequest(url, dict(self.headers), self._encoder.encode(payload), allowance)

    def parse_response(self, body: bytes, target: Target) -> JSON:
        try:
            resp = response_decoder.decode(body)
        except msgspec.DecodeError:
            raise UpstreamError(502, "the upstream sent a malformed response", retryable=True) from None
        if resp.error is not None:
            raise classify(resp.error.code or 500, resp.error)
        return to_completion(resp, target.upstream_model, int(time.time()))

    def parse_stream(self, events: AsyncIterator[SSEEvent], target: Target) -> AsyncIterator[JSON]:
        return translate_stream(events, target.upstream_model)

    def map_error(self, status: int, body: bytes, headers: dict[str, str]) -> UpstreamError:
        return map_error(status, body, headers)


def output_allowance(body: JSON, target: Target) -> int:
    """What build_request lets Gemini bill, from the config alone (pipeline/reserve.py)."""
    return payload_allowance(without_fields(body, target.provider.drop_params), target.model_config.max_output)


def model_resource(upstream_model: str) -> str:
    """`models/<name>`, or `tunedModels/<name>` for a tuned model; the name is one percent-encoded
    path segment, so no model name can reach another resource or method (`..`, `/`, `:`, `?`)."""
    name = upstream_model.removeprefix("models/")
    collection, slash, rest = name.partition("/")
    if slash and collection == "tunedModels" and "/" not in rest:
        return "tunedModels/" + path_segment(rest)
    return "models/" + path_segment(name)
