"""The provider interface. Adapters translate; they do no I/O of their own and hold no globals.

The dispatcher (pipeline/dispatch.py) owns the HTTP client, timeouts, retries and failover. An
adapter turns the client's OpenAI chat body into an upstream request, and the upstream's answer
back into OpenAI shapes:

- `build_request` gets the client's JSON body as a dict (already validated; unknown extra fields
  kept) and returns the URL, headers and encoded body to POST, and the output tokens it allows.
- `output_allowance` says, without building, how many output tokens that request allows: exactly
  one output limit goes upstream (`output_limit`: the client's, clamped to the model's
  `max_output`, or `max_output`), times the choices the upstream will generate. The hold
  (pipeline/reserve.py) is sized from it; build_request derives its limit from the same code.
- `parse_response` returns an OpenAI `chat.completion` dict, usage in OpenAI terms (below).
- `stream_batches` turns the upstream's SSE stream into OpenAI `chat.completion.chunk` dicts, in
  batches: every chunk one network read made available. A chunk may carry `usage` (OpenAI
  terms); the pipeline moves the usage to the final chunk itself. An error met mid-stream is
  raised as UpstreamError. The OpenAI-compatible adapter parses synchronously, a read's events
  at a time (its `stream_parser`: no coroutine hop per chunk); the native ones translate event
  by event (`parse_stream`) and give batches of one.
- `map_error` turns a non-2xx answer into an UpstreamError that says whether to try elsewhere.
- `get_request` is a GET of one of the upstream's own paths (e.g. `/models` for a price table),
  with the same auth, for the dispatcher to send (`Dispatcher.get_json`).
- `accepted_fields` names the request fields that reach the upstream in some form
  (providers/params.py); `supported_features` the features the adapter translates.

Every adapter's request goes out through its provider's transport (providers/transport.py).

Usage in OpenAI terms: `prompt_tokens` counts every input token, cache reads and cache writes
included; `prompt_tokens_details.cached_tokens` the cache reads;
`prompt_tokens_details.cache_write_tokens` the cache writes; `completion_tokens` includes
reasoning, with `completion_tokens_details.reasoning_tokens`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any, NamedTuple, Protocol
from urllib.parse import quote

from farebox.config import ModelConfig, ProviderConfig
from farebox.protocol.sse import SSEEvent, SSEStream
from farebox.protocol.text_chunk import TextChunk

JSON = dict[str, Any]
StreamChunk = JSON | TextChunk  # a chunk dict, or the relay's bytes fast path (protocol/text_chunk.py)


class Target(NamedTuple):
    """One deployment of one model, resolved for a request."""

    model_id: str  # the catalogue model (e.g. qwen-coder-32b, or openrouter/x/y for a wildcard)
    provider_name: str  # the key under `providers:`
    provider: ProviderConfig
    upstream_model: str  # the model name the upstream expects
    model_config: ModelConfig  # the catalogue model's config (its limits, prices, allow_params)

    @property
    def deployment(self) -> str:
        return f"{self.provider_name}/{self.upstream_model}"


class UpstreamRequest(NamedTuple):
    url: str
    headers: dict[str, str]
    body: bytes
    # The output tokens this request lets the upstream bill: the one limit field sent times the
    # choices asked for (thinking included). Never more than the adapter's output_allowance().
    allowance: int = 0


# The client's two names for one limit. Exactly one goes upstream, set by the adapter.
LIMIT_FIELDS = ("max_completion_tokens", "max_tokens")


def requested_output(body: JSON) -> int | None:
    """The output limit the client asked for; when it sent both fields, the larger (what some
    upstreams would have honoured had both been forwarded: the hold must cover it)."""
    values = [v for v in (body.get("max_completion_tokens"), body.get("max_tokens"))
              if isinstance(v, int) and not isinstance(v, bool) and v > 0]
    return max(values) if values else None


def output_limit(body: JSON, max_output: int) -> int:
    """The per-choice limit every adapter sends (see clamp_output)."""
    return clamp_output(requested_output(body), max_output)


def clamp_output(requested: int | None, max_output: int) -> int:
    """The client's limit (requested_output), clamped to the model's max_output, or max_output
    itself when the client set none (so no upstream default can exceed the hold)."""
    return max_output if requested is None else min(requested, max_output)


def choices(body: JSON) -> int:
    """How many choices (`n`) the client asked for."""
    n = body.get("n")
    return n if isinstance(n, int) and not isinstance(n, bool) and n > 1 else 1


def without_fields(body: JSON, drop: frozenset[str] | list[str]) -> JSON:
    """`body` less a provider's `drop_params` (a copy only when there is something to drop)."""
    return {k: v for k, v in body.items() if k not in drop} if drop else body


def path_segment(name: str) -> str:
    """A model name as one URL path segment: `/`, `?`, `:`, `#` and `%` percent-encoded."""
    return quote(name, safe="")


class UpstreamError(Exception):
    """An upstream failure. `retryable` means another deployment may well succeed."""

    def __init__(self, status: int, message: str, *, code: str = "upstream_error",
                 type: str = "api_error", param: str | None = None, retryable: bool = False,
                 retry_after: float | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.code = code
        self.type = type
        self.param = param
        self.retryable = retryable
        self.retry_after = retry_after


class Provider(Protocol):
    """What every adapter implements. Instances are built once per configured provider."""

    name: str
    config: ProviderConfig
    supported_features: frozenset[str]

    def accepted_fields(self, target: Target) -> frozenset[str]: ...

    def build_request(self, body: JSON, target: Target, *, stream: bool) -> UpstreamRequest: ...

    def output_allowance(self, body: JSON, target: Target) -> int:
        """The output tokens build_request would let the upstream bill (limit x n, thinking
        included), without building it: what the hold covers. build_request uses it too."""
        ...

    def parse_response(self, body: bytes, target: Target) -> JSON: ...

    def stream_batches(self, events: SSEStream, target: Target) -> AsyncIterator[list[StreamChunk]]: ...

    def map_error(self, status: int, body: bytes, headers: dict[str, str]) -> UpstreamError: ...

    def get_request(self, path: str) -> UpstreamRequest: ...


class StreamParser(Protocol):
    """One stream's parsing state. `feed` returns the chunks of the events given; after `[DONE]`
    or a failure it sets `stopped` (read no further). `end()`, called once no more events will
    come, raises the failure, or an UpstreamError when the stream ended incomplete."""

    stopped: bool

    def feed(self, events: list[SSEEvent]) -> list[StreamChunk]: ...

    def end(self) -> None: ...


async def read_batches(events: SSEStream, parser: StreamParser) -> AsyncIterator[list[StreamChunk]]:
    """Drive a StreamParser: one feed per network read (a batch, unless it made no chunk) until
    the parser stops or the stream ends, then `end()` (which raises what ended it badly)."""
    while not parser.stopped:
        got = await events.read_events()
        if not got:
            break
        batch = parser.feed(got)
        if batch:
            yield batch
    parser.end()


async def batches_of_one(chunks: AsyncIterator[JSON]) -> AsyncIterator[list[StreamChunk]]:
    """An event-by-event translation's chunks as batches of one (the native adapters)."""
    try:
        async for chunk in chunks:
            yield [chunk]
    finally:
        close = getattr(chunks, "aclose", None)  # an async generator: stop it now, not at GC
        if close is not None:
            await close()


def get_request(url: str, headers: dict[str, str]) -> UpstreamRequest:
    """A GET with a provider's headers, less the ones that describe a body."""
    return UpstreamRequest(url, {k: v for k, v in headers.items() if k.lower() != "content-type"}, b"")


def retryable_status(status: int) -> bool:
    """Statuses that mean "try another deployment": rate limits, overload and server errors."""
    return status in (408, 409, 425, 429) or status >= 500


def parse_retry_after(headers: dict[str, str]) -> float | None:
    for name in ("retry-after-ms", "Retry-After-Ms"):
        if name in headers:
            try:
                return float(headers[name]) / 1000
            except ValueError:
                pass
    value = headers.get("retry-after") or headers.get("Retry-After")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
