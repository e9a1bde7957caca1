"""Anthropic stream events -> OpenAI chat.completion.chunk dicts.

Anthropic streams content blocks by index (text, thinking, tool_use); OpenAI streams deltas of one
message, with tool calls numbered in order of appearance. Input usage arrives in message_start,
output usage in message_delta (cumulative); the last chunk we yield carries the usage with
`choices: []`, as OpenAI does with include_usage.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from farebox.protocol.sse import SSEEvent
from farebox.providers.anthropic.errors import stream_error
from farebox.providers.anthropic.request import JSON_TOOL, JSON_VALUE_TOOL
from farebox.providers.anthropic.response import finish_reason, json_tool_text, openai_usage
from farebox.providers.base import JSON, UpstreamError

_decode = msgspec.json.decode

# What a content block is, to the translator.
_TEXT, _THINKING, _TOOL, _JSON, _JSON_VALUE, _IGNORED = range(6)


class StreamTranslator:
    """State of one stream. `feed` takes one event's JSON and returns the chunks it makes."""

    def __init__(self, fallback_model: str) -> None:
        self.id = "msg_unknown"
        self.model = fallback_model
        self.created = int(time.time())
        self.usage: JSON = {}
        self.stop_reason: str | None = None
        self.finished = False
        self.blocks: dict[int, int] = {}  # Anthropic block index -> kind
        self.tool_index: dict[int, int] = {}  # Anthropic block index -> OpenAI tool_calls index
        self.json_buffer: list[str] = []
        self.thinking: list[str] = []

    def chunk(self, delta: JSON, finish: str | None = None) -> JSON:
        return {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                "model": self.model,
                "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

    def feed(self, event: JSON) -> list[JSON]:
        kind = event.get("type")
        if kind == "content_block_delta":
            return self._delta(event.get("index"), event.get("delta") or {})
        if kind == "content_block_start":
            return self._start(event.get("index"), event.get("content_block") or {})
        if kind == "content_block_stop":
            return self._stop(event.get("index"))
        if kind == "message_start":
            message = event.get("message") or {}
            self.id = message.get("id") or self.id
            self.model = message.get("model") or self.model
            self.usage.update(message.get("usage") or {})
            return [self.chunk({"role": "assistant", "content": ""})]
        if kind == "message_delta":
            self.stop_reason = (event.get("delta") or {}).get("stop_reason") or self.stop_reason
            # Counts here are cumulative; newer API versions repeat the input counts too.
            self.usage.update({k: v for k, v in (event.get("usage") or {}).items() if v is not None})
            return []
        if kind == "message_stop":
            return self.finish()
        return []  # ping, and event types newer than this code

    def finish(self) -> list[JSON]:
        self.finished = True
        reason = finish_reason(self.stop_reason, tool_calls=bool(self.tool_index))
        usage = openai_usage(self.usage, "".join(self.thinking))
        usage_chunk = {**self.chunk({}), "choices": [], "usage": usage}
        return [self.chunk({}, reason), usage_chunk]

    def _start(self, index: Any, block: JSON) -> list[JSON]:
        kind = block.get("type")
        if kind == "text":
            self.blocks[index] = _TEXT
            return [self.chunk({"content": block["text"]})] if block.get("text") else []
        if kind == "thinking":
            self.blocks[index] = _THINKING
            return self._thinking(block.get("thinking"))
        if kind == "tool_use" and block.get("name") == JSON_TOOL:
            self.blocks[index] = _JSON
        elif kind == "tool_use" and block.get("name") == JSON_VALUE_TOOL:
            self.blocks[index] = _JSON_VALUE
        elif kind == "tool_use":
            self.blocks[index] = _TOOL
            position = self.tool_index[index] = len(self.tool_index)
            return [self.chunk({"tool_calls": [{"index": position, "id": block.get("id"), "type": "function",
                                                "function": {"name": block.get("name"), "arguments": ""}}]})]
        else:
            self.blocks[index] = _IGNORED  # redacted_thinking, server tools and their results
        return []

    def _delta(self, index: Any, delta: JSON) -> list[JSON]:
        kind = self.blocks.get(index, _IGNORED)
        if kind == _TEXT and delta.get("type") == "text_delta":
            return [self.chunk({"content": delta.get("text") or ""})]
        if kind == _THINKING and delta.get("type") == "thinking_delta":
            return self._thinking(delta.get("thinking"))
        partial = delta.get("partial_json") if delta.get("type") == "input_json_delta" else None
        if not partial:
            return []  # signature_delta, citations, empty JSON fragments
        if kind == _TOOL:
            return [self.chunk({"tool_calls": [{"index": self.tool_index[index],
                                                "function": {"arguments": partial}}]})]
        if kind == _JSON:
            return [self.chunk({"content": partial})]
        if kind == _JSON_VALUE:
            self.json_buffer.append(partial)  # the wrapper is unwrapped once the block is whole
        return []

    def _stop(self, index: Any) -> list[JSON]:
        if self.blocks.get(index) != _JSON_VALUE:
            return []
        raw, self.json_buffer = "".join(self.json_buffer), []
        try:
            value = _decode(raw) if raw else {}
        except msgspec.DecodeError:
            raise UpstreamError(502, "Anthropic streamed invalid JSON for a JSON-mode answer",
                                retryable=True) from None
        return [self.chunk({"content": json_tool_text(JSON_VALUE_TOOL, value)})]

    def _thinking(self, text: Any) -> list[JSON]:
        if not text:
            return []
        self.thinking.append(text)
        return [self.chunk({"reasoning_content": text})]


async def translate_stream(events: AsyncIterator[SSEEvent], fallback_model: str) -> AsyncIterator[JSON]:
    state = StreamTranslator(fallback_model)
    async for event in events:
        if event.event == "error":
            raise stream_error(event.data)
        try:
            data = _decode(event.data)
        except msgspec.DecodeError:
            raise UpstreamError(502, "Anthropic sent a stream event that is not JSON",
                                retryable=True) from None
        if not isinstance(data, dict):
            continue
        if data.get("type") == "error":
            raise stream_error(event.data)
        for chunk in state.feed(data):
            yield chunk
        if state.finished:
            return
    if state.stop_reason is None:
        raise UpstreamError(502, "Anthropic's stream ended before the message did", retryable=True)
    for chunk in state.finish():  # message_delta came but the connection closed before message_stop
        yield chunk
