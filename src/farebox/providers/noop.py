"""The built-in `noop-test` provider: answers offline, deterministically, from the prompt.

It is the OpenAI-compatible adapter over an in-process transport (httpx's `MockTransport` idea):
the dispatcher builds and sends its requests like any other, and `NoopTransport` answers with
the JSON body or the SSE bytes an OpenAI-compatible server would send (usage, streaming chunk by
chunk, optional latency), so the quickstart's model is also a smoke test of the real parsers.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import msgspec

from farebox.config import ProviderConfig
from farebox.protocol.sse import DONE_FRAME, encode_data
from farebox.providers.base import JSON, UpstreamRequest
from farebox.tokens import estimate_prompt_tokens, estimate_text_tokens

_encode = msgspec.json.Encoder().encode
_decode = msgspec.json.Decoder().decode


class NoopTransport:
    """Answers the requests the OpenAI-compatible adapter built for a `kind: noop` provider. The
    body it gets is what an upstream would: the allow-listed fields, `model` the upstream model,
    one `max_tokens` (already clamped to the model's max_output)."""

    def __init__(self, config: ProviderConfig) -> None:
        self.latency = config.latency_ms / 1000
        self.chunk_delay = config.chunk_delay_ms / 1000

    async def send(self, request: UpstreamRequest, *, whole: bool, method: str = "POST") -> InProcessResponse:
        if method != "POST":
            return InProcessResponse(404, [b'{"error": {"message": "noop has no such endpoint"}}'])
        if self.latency:
            await asyncio.sleep(self.latency)
        body = _decode(request.body)
        reply = _Reply(body)
        if body.get("stream"):
            events = _events(reply, body["model"])
            if not self.chunk_delay:  # what a fast server's one packet holds: one read, one batch
                events = [(b"".join(e for e, _ in events), False)]
            return InProcessResponse(200, events, delay=self.chunk_delay, content_type="text/event-stream")
        return InProcessResponse(200, [_encode(_completion(reply, body["model"]))])

    async def close(self) -> None:
        pass


def _completion(reply: _Reply, model: str) -> JSON:
    message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None}
    if reply.tool_calls:
        message["tool_calls"] = reply.tool_calls
    if reply.reasoning:
        message["reasoning_content"] = reply.reasoning
    return {
        "id": "chatcmpl-noop", "object": "chat.completion", "created": int(time.time()), "model": model,
        "choices": [{"index": 0, "message": message, "logprobs": reply.logprobs(),
                     "finish_reason": reply.finish_reason}],
        "usage": reply.usage(),
    }


def _events(reply: _Reply, model: str) -> list[tuple[bytes, bool]]:
    """The stream's SSE events, each flagged when a chunk delay comes before it (text pieces)."""
    created = int(time.time())

    def chunk(delta: dict[str, Any], finish: str | None = None) -> JSON:
        return {"id": "chatcmpl-noop", "object": "chat.completion.chunk", "created": created, "model": model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    events = [(chunk({"role": "assistant", "content": ""}), False)]
    if reply.reasoning:
        events.append((chunk({"reasoning_content": reply.reasoning}), False))
    events.extend((chunk({"content": piece}), True) for piece in reply.pieces())
    if reply.tool_calls:
        events.append((chunk({"tool_calls": [dict(call, index=i) for i, call in enumerate(reply.tool_calls)]}),
                       False))
    events.append((chunk({}, reply.finish_reason), False))
    final = chunk({})
    final["choices"] = []
    final["usage"] = reply.usage()
    events.append((final, False))
    return [(encode_data(_encode(e)), delayed) for e, delayed in events] + [(DONE_FRAME, False)]


class InProcessResponse:
    """An upstream answer made in process: the subset of aiohttp's ClientResponse the dispatcher
    reads (providers/transport.py). Its body comes one block per read, a delay before the flagged
    ones, as a server's packets would."""

    connection = None  # no socket: no idle timer to arm

    def __init__(self, status: int, blocks: list[bytes] | list[tuple[bytes, bool]], *, delay: float = 0.0,
                 content_type: str = "application/json") -> None:
        self.status = status
        self.headers: Mapping[str, str] = {"Content-Type": content_type}
        self.content = _Blocks([b if isinstance(b, tuple) else (b, False) for b in blocks], delay)

    async def read(self) -> bytes:
        parts = []
        while block := await self.content.readany():
            parts.append(block)
        return b"".join(parts)

    def release(self) -> None:
        pass

    def close(self) -> None:
        self.content.blocks.clear()

    async def __aenter__(self) -> InProcessResponse:
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None:
        pass


class _Blocks:
    def __init__(self, blocks: list[tuple[bytes, bool]], delay: float) -> None:
        self.blocks = blocks
        self.delay = delay
        self._next = 0
        self._error: BaseException | None = None

    async def readany(self) -> bytes:
        if self._error is not None:
            raise self._error
        if self._next >= len(self.blocks):
            return b""
        block, delayed = self.blocks[self._next]
        self._next += 1
        if delayed and self.delay:
            await asyncio.sleep(self.delay)
        return block

    def is_eof(self) -> bool:
        return self._next >= len(self.blocks)

    def set_exception(self, exc: BaseException) -> None:
        self._error = exc


class _Reply:
    """The deterministic reply to one request."""

    def __init__(self, body: JSON) -> None:
        self.body = body
        last = _last_user_text(body.get("messages") or [])
        words = len(last.split())
        self.tool_calls = _forced_tool_calls(body)
        response_format = body.get("response_format") or {}
        if self.tool_calls:
            text = ""
        elif response_format.get("type") in ("json_object", "json_schema"):
            text = msgspec.json.encode({"model": "noop-test", "words": words}).decode()
        else:
            text = (f"This is noop-test. You sent {len(body.get('messages') or [])} message(s); "
                    f"the last one has {words} word(s) and reads: {last[:200]}")
        # the one limit the adapter sends (noop answers one choice): at most, like a real upstream
        self.limit = limit = body["max_tokens"]
        self.finish_reason = "tool_calls" if self.tool_calls else "stop"
        if estimate_text_tokens(text) > limit:
            text = _truncate_to_tokens(text, limit)
            self.finish_reason = "length"
        self.text = text
        effort = body.get("reasoning_effort")
        self.reasoning = f"Reasoning ({effort}) about a {words}-word message." if effort else ""
        self.prompt_tokens = estimate_prompt_tokens(body)

    def pieces(self) -> list[str]:
        words = self.text.split(" ")
        return [w if i == 0 else " " + w for i, w in enumerate(words) if w or i == 0] if self.text else []

    def usage(self) -> JSON:
        reasoning = min(estimate_text_tokens(self.reasoning), self.limit)
        calls = sum(estimate_text_tokens(c["function"]["name"] + c["function"]["arguments"])
                    for c in self.tool_calls)
        # like a real upstream, never more than the limit it was given (reasoning included)
        completion = min(estimate_text_tokens(self.text) + reasoning + calls, self.limit)
        return {"prompt_tokens": self.prompt_tokens, "completion_tokens": completion,
                "total_tokens": self.prompt_tokens + completion,
                "prompt_tokens_details": {"cached_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": reasoning}}

    def logprobs(self) -> JSON | None:
        if not self.body.get("logprobs"):
            return None
        return {"content": [{"token": p, "logprob": -0.01, "bytes": list(p.encode()), "top_logprobs": []}
                            for p in self.pieces()], "refusal": None}


def _last_user_text(messages: list[Any]) -> str:
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, str):
                return content
            if isinstance(content, list):
                return " ".join(str(p.get("text", "")) for p in content if isinstance(p, dict))
    return ""


def _forced_tool_calls(body: JSON) -> list[JSON]:
    """A call to the first (or the named) tool when the client requires a tool call."""
    tools = body.get("tools") or []
    choice = body.get("tool_choice")
    if not tools or choice in (None, "auto", "none"):
        return []
    name = tools[0].get("function", {}).get("name", "tool")
    if isinstance(choice, dict):
        name = choice.get("function", {}).get("name", name)
    digest = hashlib.sha256(name.encode()).hexdigest()[:24]
    return [{"id": f"call_{digest}", "type": "function", "function": {"name": name, "arguments": "{}"}}]


def _truncate_to_tokens(text: str, tokens: int) -> str:
    words = text.split(" ")
    while words and estimate_text_tokens(" ".join(words)) > tokens:
        words.pop()
    return " ".join(words)
