"""An Anthropic Message -> an OpenAI chat.completion; usage and stop reasons, shared with streams."""

from __future__ import annotations

import time
from typing import Any

import msgspec

from farebox.providers.anthropic.request import JSON_TOOLS, JSON_VALUE_TOOL
from farebox.providers.base import JSON, UpstreamError
from farebox.tokens import estimate_text_tokens

FINISH_REASONS = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "pause_turn": "stop",
    "max_tokens": "length",
    "model_context_window_exceeded": "length",
    "tool_use": "tool_calls",
    "refusal": "content_filter",
}

_encode = msgspec.json.Encoder().encode


def finish_reason(stop_reason: Any, *, tool_calls: bool) -> str:
    reason = FINISH_REASONS.get(stop_reason, "stop") if isinstance(stop_reason, str) else "stop"
    if reason == "tool_calls" and not tool_calls:
        return "stop"  # only our JSON-mode tool was called: to the client that is a plain answer
    return reason


def openai_usage(usage: JSON, thinking: str = "") -> JSON:
    """Anthropic usage in OpenAI terms (see providers/base.py).

    Anthropic's output_tokens already include thinking but it reports no thinking count, so
    reasoning_tokens is an estimate from the thinking text (capped at output_tokens).
    """
    fresh = _int(usage.get("input_tokens"))
    cache_read = _int(usage.get("cache_read_input_tokens"))
    cache_write = _int(usage.get("cache_creation_input_tokens"))
    output = _int(usage.get("output_tokens"))
    prompt = fresh + cache_read + cache_write
    reasoning = min(output, estimate_text_tokens(thinking))
    return {
        "prompt_tokens": prompt,
        "completion_tokens": output,
        "total_tokens": prompt + output,
        "prompt_tokens_details": {"cached_tokens": cache_read, "cache_write_tokens": cache_write},
        "completion_tokens_details": {"reasoning_tokens": reasoning},
    }


def _int(value: Any) -> int:
    return value if isinstance(value, int) else 0


def json_tool_text(name: str, tool_input: Any) -> str:
    """The content text for a call of our JSON-mode tool."""
    if name == JSON_VALUE_TOOL and isinstance(tool_input, dict):
        tool_input = tool_input.get("value")
    return _encode(tool_input).decode()


def to_completion(body: bytes, fallback_model: str) -> JSON:
    try:
        message = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise UpstreamError(502, "Anthropic returned a body that is not JSON", retryable=True) from None
    if not isinstance(message, dict) or not isinstance(message.get("content"), list):
        raise UpstreamError(502, "Anthropic returned an unexpected body (no content list)", retryable=True)
    texts: list[str] = []
    thinking: list[str] = []
    tool_calls: list[JSON] = []
    json_text: str | None = None
    for block in message["content"]:
        kind = block.get("type") if isinstance(block, dict) else None
        if kind == "text":
            texts.append(block.get("text") or "")
        elif kind == "thinking":
            thinking.append(block.get("thinking") or "")
        elif kind == "tool_use" and block.get("name") in JSON_TOOLS:
            json_text = json_tool_text(block["name"], block.get("input"))
        elif kind == "tool_use":
            tool_calls.append({"id": block.get("id"), "type": "function", "function": {
                "name": block.get("name"), "arguments": _encode(block.get("input") or {}).decode()}})
        # redacted_thinking, server tool blocks and anything newer carry nothing for the client
    content: str | None = json_text if json_text is not None else "".join(texts)
    out_message: JSON = {"role": "assistant", "content": content or (None if tool_calls else ""),
                         "refusal": None}
    if tool_calls:
        out_message["tool_calls"] = tool_calls
    if thinking:
        out_message["reasoning_content"] = "".join(thinking)
    reason = finish_reason(message.get("stop_reason"), tool_calls=bool(tool_calls))
    usage = message.get("usage")
    return {
        "id": message.get("id") or "msg_unknown",
        "object": "chat.completion",
        "created": int(time.time()),
        "model": message.get("model") or fallback_model,
        "choices": [{"index": 0, "message": out_message, "logprobs": None, "finish_reason": reason}],
        "usage": openai_usage(usage if isinstance(usage, dict) else {}, "".join(thinking)),
    }
