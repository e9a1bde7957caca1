"""Relaying a stream: normalise each upstream chunk, keep the usage for settlement, and hold
back what must come last (llmdeal's way: without stream_options.include_usage, the usage rides on
the chunk that carries finish_reason)."""

from __future__ import annotations

from typing import Any

import msgspec

from farebox.protocol.openai import chunk_head, normalize_chunk
from farebox.protocol.sse import encode_data
from farebox.protocol.text_chunk import TextChunk, head_bytes
from farebox.providers.base import StreamChunk, UpstreamError
from farebox.providers.errors import public_message

_encoder = msgspec.json.Encoder()
_encode = _encoder.encode


class StreamRelay:
    def __init__(self, *, completion_id: str, model: str, created: int, include_usage: bool) -> None:
        self.completion_id = completion_id
        self.model = model
        self.created = created
        self.include_usage = include_usage
        self.usage: dict[str, Any] | None = None
        self.held: list[dict[str, Any]] = []  # finish chunks waiting for the usage
        self.generated: list[str] = []  # output text seen, to count tokens when usage is missing
        self._head = chunk_head(id=completion_id, model=model, created=created)
        self._text_head = head_bytes(id=completion_id, model=model, created=created)

    def frames(self, chunks: list[StreamChunk]) -> bytes:
        """The bytes to send now for a batch of upstream chunks (possibly none), in one blob."""
        out = bytearray()
        head = self._head
        generated = self.generated
        hold = not self.include_usage
        text_head = self._text_head
        for chunk in chunks:
            if isinstance(chunk, TextChunk):  # the fast path: our head, then the upstream's bytes
                out += b"data: "
                out += text_head
                out += chunk.body
                out += b"}\n\n"
                generated.append(chunk.text)
                continue
            usage = chunk.pop("usage", None)
            if usage:
                self.usage = usage
            normalize_chunk(chunk, head)
            choices = chunk["choices"]
            if not choices:
                continue
            finishing = False
            for choice in choices:
                delta = choice["delta"]
                if len(delta) == 1 and "content" in delta:  # the usual delta: only text
                    text = delta["content"]
                    if text:
                        generated.append(text)
                elif delta:
                    _collect(delta, generated)
                if choice["finish_reason"] is not None:
                    finishing = True
            if finishing and hold:
                self.held.append(chunk)
                continue
            out += b"data: "
            _encoder.encode_into(chunk, out, -1)
            out += b"\n\n"
        return bytes(out)

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


def _collect(delta: dict[str, Any], generated: list[str]) -> None:
    """The generated text of any delta: content, reasoning, tool call names and arguments."""
    for field in ("content", "reasoning_content"):
        text = delta.get(field)
        if text:
            generated.append(text)
    for call in delta.get("tool_calls") or ():
        function = call.get("function") or {}
        generated.append(str(function.get("name") or "") + str(function.get("arguments") or ""))


def error_frame(error: UpstreamError | Any) -> bytes:
    """An OpenAI-style error event for a failure after the first byte."""
    message = public_message(getattr(error, "message", str(error)), context="mid-stream")
    body = {"error": {"message": message, "type": getattr(error, "type", "api_error"),
                      "param": None, "code": getattr(error, "code", "upstream_error")}}
    return encode_data(_encode(body))
