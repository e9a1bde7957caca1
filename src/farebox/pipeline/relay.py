"""Relaying a stream: normalise each upstream chunk, keep the usage for settlement, and hold
back what must come last (llmdeal's way: without stream_options.include_usage, the usage rides on
the chunk that carries finish_reason)."""

from __future__ import annotations

from typing import Any

import msgspec

from farebox.protocol.openai import normalize_chunk
from farebox.protocol.sse import encode_data
from farebox.providers.base import UpstreamError

_encode = msgspec.json.Encoder().encode


class StreamRelay:
    def __init__(self, *, completion_id: str, model: str, created: int, include_usage: bool) -> None:
        self.completion_id = completion_id
        self.model = model
        self.created = created
        self.include_usage = include_usage
        self.usage: dict[str, Any] | None = None
        self.held: list[dict[str, Any]] = []  # finish chunks waiting for the usage
        self.generated: list[str] = []  # output text seen, to count tokens when usage is missing

    def frames(self, chunk: dict[str, Any]) -> bytes:
        """The bytes to send now for one upstream chunk (possibly none)."""
        usage = chunk.pop("usage", None)
        if usage:
            self.usage = usage
        normalize_chunk(chunk, id=self.completion_id, model=self.model, created=self.created)
        choices = chunk["choices"]
        if not choices:
            return b""
        finishing = False
        for choice in choices:
            delta = choice["delta"]
            for field in ("content", "reasoning_content"):
                text = delta.get(field)
                if text:
                    self.generated.append(text)
            for call in delta.get("tool_calls") or ():
                function = call.get("function") or {}
                self.generated.append(str(function.get("name") or "") + str(function.get("arguments") or ""))
            finishing = finishing or choice["finish_reason"] is not None
        if finishing and not self.include_usage:
            self.held.append(chunk)
            return b""
        return encode_data(_encode(chunk))

    def generated_text(self) -> str:
        return "".join(self.generated)

    def closing_frames(self, usage: dict[str, Any]) -> bytes:
        """The last chunks: the held finish chunks (usage on the last one), or a usage chunk."""
        if self.include_usage:
            final = {"id": self.completion_id, "object": "chat.completion.chunk", "created": self.created,
                     "model": self.model, "choices": [], "usage": usage}
            return encode_data(_encode(final))
        if not self.held:
            self.held.append({"id": self.completion_id, "object": "chat.completion.chunk",
                              "created": self.created, "model": self.model,
                              "choices": [{"index": 0, "delta": {}, "logprobs": None, "finish_reason": "stop"}]})
        self.held[-1]["usage"] = usage
        return b"".join(encode_data(_encode(chunk)) for chunk in self.held)

    def flush_held(self) -> bytes:
        """Held chunks without usage (when the stream fails after finishing)."""
        frames = b"".join(encode_data(_encode(chunk)) for chunk in self.held)
        self.held.clear()
        return frames


def error_frame(error: UpstreamError | Any) -> bytes:
    """An OpenAI-style error event for a failure after the first byte."""
    body = {"error": {"message": getattr(error, "message", str(error)), "type": getattr(error, "type", "api_error"),
                      "param": None, "code": getattr(error, "code", "upstream_error")}}
    return encode_data(_encode(body))
