"""OpenAI-compatible upstreams (vLLM, llama.cpp, Ollama, DeepSeek, Mistral, Cerebras, Groq,
OpenRouter, OpenAI). They differ only in small quirks, which are rows in `presets.py`."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any, NamedTuple

import msgspec

from farebox.config import ProviderConfig
from farebox.protocol.sse import DONE, SSEEvent, SSEStream
from farebox.protocol.text_chunk import match_text_chunk
from farebox.providers.base import (
    JSON,
    LIMIT_FIELDS,
    StreamChunk,
    Target,
    UpstreamError,
    UpstreamRequest,
    choices,
    get_request,
    output_limit,
    read_batches,
)
from farebox.providers.errors import upstream_error
from farebox.providers.params import ALL_FEATURES, MULTI_CHOICE_PRESETS, accepted_fields, filter_params
from farebox.providers.presets import Preset, preset_of

_decode = msgspec.json.Decoder().decode
_encode = msgspec.json.Encoder().encode

# Fields of farebox's own that never go upstream.
GATEWAY_ONLY_FIELDS = frozenset({"model"})

# The one output-limit field each preset sends (never both: an upstream reading the other would
# not be bound by the hold). OpenAI's reasoning models refuse max_tokens, Groq deprecated it,
# Cerebras documents max_completion_tokens; self-hosted servers (vLLM, llama.cpp, Ollama, TGI),
# DeepSeek, Mistral and OpenRouter all read max_tokens.
COMPLETION_TOKENS_PRESETS = frozenset({"openai", "groq", "cerebras"})


class Shape(NamedTuple):
    """What a provider's config makes of requests: its preset and the fields it filters."""

    preset: Preset
    dropped: frozenset[str]
    allowed: frozenset[str] | None  # None: every field not dropped
    limit_field: str
    multi_choice: bool


def shape_of(config: ProviderConfig) -> Shape:
    preset = preset_of(config)
    dropped = frozenset(config.drop_params) | preset.drop_params
    allowed = None if preset.allow_params is None else preset.allow_params - frozenset(config.drop_params)
    limit_field = "max_completion_tokens" if preset.name in COMPLETION_TOKENS_PRESETS else "max_tokens"
    multi = preset.name in MULTI_CHOICE_PRESETS and "n" not in dropped and (allowed is None or "n" in allowed)
    return Shape(preset, dropped, allowed, limit_field, multi)


def _limits(body: JSON, target: Target, multi_choice: bool) -> tuple[int, int]:
    """(the limit sent, the choices the upstream generates)."""
    return output_limit(body, target.model_config.max_output), choices(body) if multi_choice else 1


def output_allowance(body: JSON, target: Target) -> int:
    """What build_request lets the upstream bill, from the config alone (pipeline/reserve.py)."""
    limit, n = _limits(body, target, shape_of(target.provider).multi_choice)
    return limit * n


class OpenAICompatProvider:
    supported_features = ALL_FEATURES  # less the preset's unsupported ones; n where it generates several

    def __init__(self, name: str, config: ProviderConfig) -> None:
        self.name = name
        self.config = config
        shape = shape_of(config)
        self.preset = shape.preset
        self.limit_field = shape.limit_field
        self.multi_choice = shape.multi_choice
        features = OpenAICompatProvider.supported_features | ({"n"} if shape.multi_choice else set())
        self.supported_features = features - self.preset.unsupported_features
        self.root = (config.base_url or "").rstrip("/")
        self.url = self.root + "/chat/completions"
        headers = {"Content-Type": "application/json", "Accept-Encoding": "identity"}
        headers.update(self.preset.headers)
        if config.api_key:
            headers["Authorization"] = f"Bearer {config.api_key}"
        headers.update(config.headers)  # the operator's own headers win over the preset's
        self.headers = headers
        self.allowed = shape.allowed

    def accepted_fields(self, target: Target) -> frozenset[str]:
        return accepted_fields(target)

    def output_allowance(self, body: JSON, target: Target) -> int:
        limit, n = _limits(body, target, self.multi_choice)
        return limit * n

    def build_request(self, body: JSON, target: Target, *, stream: bool) -> UpstreamRequest:
        preset = self.preset
        limit, n = _limits(body, target, self.multi_choice)
        out, _ = filter_params(body, preset, self.config, target.model_config)  # the allow-list (params.py)
        for field in LIMIT_FIELDS:  # the limit is set last, below
            out.pop(field, None)
        out["model"] = target.upstream_model
        if not self.multi_choice:
            out.pop("n", None)
        for src, dst in preset.rename_params.items():
            if src in out:
                value = out.pop(src)
                out.setdefault(dst, value)
        out.pop("stream_options", None)
        out["stream"] = stream
        if stream and preset.stream_options:
            options = dict(body.get("stream_options") or {})
            options["include_usage"] = True  # usage is how we bill: always ask for it
            out["stream_options"] = options
        if self.allowed is not None:
            out = {k: v for k, v in out.items() if k in self.allowed}
        if preset.fix_request is not None:
            preset.fix_request(out)
        out[self.limit_field] = limit  # last, after every filter: exactly one limit goes upstream
        return UpstreamRequest(self.url, self.headers, _encode(out), limit * n)

    def parse_response(self, body: bytes, target: Target) -> JSON:
        try:
            doc = _decode(body)
        except msgspec.DecodeError:
            raise UpstreamError(502, "The upstream sent a response that is not JSON.",
                                code="bad_upstream_response", retryable=True) from None
        if not isinstance(doc, dict) or not isinstance(doc.get("choices"), list):
            raise UpstreamError(502, "The upstream sent a response without choices.",
                                code="bad_upstream_response", retryable=True)
        return doc

    def stream_parser(self, target: Target, *, text_chunks: bool = False) -> OpenAIStreamParser:
        return OpenAIStreamParser(self.preset.fix_chunk, text_chunks=text_chunks)

    def stream_batches(self, events: SSEStream, target: Target) -> AsyncIterator[list[StreamChunk]]:
        return read_batches(events, self.stream_parser(target, text_chunks=True))

    async def parse_stream(self, events: AsyncIterator[SSEEvent], target: Target) -> AsyncIterator[JSON]:
        parser = self.stream_parser(target)
        async for event in events:
            for chunk in parser.feed([event]):
                assert isinstance(chunk, dict)  # without text_chunks, every chunk is a dict
                yield chunk
            if parser.stopped:
                break
        parser.end()

    def map_error(self, status: int, body: bytes, headers: dict[str, str]) -> UpstreamError:
        return upstream_error(status, _error_message(body), headers)

    def get_request(self, path: str) -> UpstreamRequest:
        return get_request(self.root + path, self.headers)


def _error_message(body: bytes) -> str:
    try:
        doc = _decode(body)
    except msgspec.DecodeError:
        return body[:300].decode("utf-8", "replace").strip() or "no details"
    error = doc.get("error") if isinstance(doc, dict) else None
    if isinstance(error, dict):
        return str(error.get("message") or error)
    if isinstance(error, str):
        return error
    if isinstance(doc, dict) and "message" in doc:
        return str(doc["message"])
    return str(doc)[:300]


def _stream_error(error: Any) -> UpstreamError:
    message = str(error.get("message", error)) if isinstance(error, dict) else str(error)
    return UpstreamError(502, f"The upstream failed mid-stream: {message}", code="upstream_error")


MAX_TEXT_CHUNK_MISSES = 8  # a stream's first chunks are often other shapes (role, reasoning)


class OpenAIStreamParser:
    """One stream's events to chunks, a read's worth at a time (no coroutine per chunk).

    `feed` returns the chunks of the events given and stops at `[DONE]` or at the first failure
    (a malformed event, an `{"error": ...}` event), setting `stopped`: the chunks before it still
    go to the client, then `end()` raises it. `end()` also raises when the stream was cut before
    any finish_reason (and without `[DONE]`).
    """

    __slots__ = ("_fix_chunk", "_text_chunks", "_misses", "_finished", "_error", "stopped")

    def __init__(self, fix_chunk: Callable[[JSON], None] | None = None, *, text_chunks: bool = False) -> None:
        self._fix_chunk = fix_chunk
        # The relay's fast path: the usual text-only chunk comes back as a TextChunk (bytes), not
        # a dict. Never with a preset that rewrites chunks.
        self._text_chunks = text_chunks and fix_chunk is None
        self._misses = 0  # chunks the fast path was tried on in vain, before its first success
        self._finished = False  # a finish_reason or [DONE] was seen
        self._error: UpstreamError | None = None
        self.stopped = False

    def feed(self, events: list[SSEEvent]) -> list[StreamChunk]:
        chunks: list[StreamChunk] = []
        if self.stopped:
            return chunks
        fix_chunk = self._fix_chunk
        finished = self._finished
        for event in events:
            data = event.data
            if data == DONE:
                finished = self.stopped = True
                break
            if self._text_chunks:
                text_chunk = match_text_chunk(data)
                if text_chunk is not None:  # the usual chunk: relayed as bytes
                    chunks.append(text_chunk)
                    self._misses = -1  # this upstream's chunks have the shape: keep trying
                    continue
                if self._misses >= 0:
                    self._misses += 1
                    # An upstream whose chunks never have the shape (extra fields, spaces) would
                    # pay for the attempt on every chunk on top of the general path: stop trying.
                    self._text_chunks = self._misses < MAX_TEXT_CHUNK_MISSES
            try:
                chunk = _decode(data)
            except msgspec.DecodeError:
                self._fail(UpstreamError(502, "The upstream sent a malformed stream event.",
                                         code="bad_upstream_response", retryable=True))
                break
            if not isinstance(chunk, dict):
                continue
            if fix_chunk is not None:
                fix_chunk(chunk)
            if "error" in chunk and "choices" not in chunk:
                self._fail(_stream_error(chunk["error"]))
                break
            if not finished:
                for choice in chunk.get("choices") or ():
                    if isinstance(choice, dict) and choice.get("finish_reason"):
                        finished = True
                        break
            chunks.append(chunk)
        self._finished = finished
        return chunks

    def end(self) -> None:
        if self._error is not None:
            raise self._error
        if not self._finished:
            raise UpstreamError(502, "The upstream stream ended before the reply was complete.",
                                code="upstream_stream_cut")

    def _fail(self, error: UpstreamError) -> None:
        self._error = error
        self.stopped = True
