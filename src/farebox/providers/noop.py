"""The built-in `noop-test` provider: answers offline, deterministically, from the prompt.

It is a real provider as far as the pipeline is concerned (usage, billing, streaming chunk by
chunk, optional latency), which makes it the quickstart's model and a smoke test for clients.
"""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from farebox.config import ProviderConfig
from farebox.providers.base import JSON, Target, output_limit
from farebox.tokens import estimate_prompt_tokens, estimate_text_tokens


class NoopProvider:
    """A provider without a network: `complete` and `stream` replace the HTTP round trip."""

    supported_features = frozenset(
        {"tools", "tool_choice", "json_object", "json_schema", "logprobs", "reasoning", "prompt_cache"})

    def __init__(self, name: str, config: ProviderConfig) -> None:
        self.name = name
        self.config = config
        self.latency = config.latency_ms / 1000
        self.chunk_delay = config.chunk_delay_ms / 1000

    def output_allowance(self, body: JSON, target: Target) -> int:
        return output_allowance(body, target)

    async def complete(self, body: JSON, target: Target) -> JSON:
        if self.latency:
            await asyncio.sleep(self.latency)
        reply = _Reply(body, target)
        message: dict[str, Any] = {"role": "assistant", "content": reply.text, "refusal": None}
        if reply.tool_calls:
            message["tool_calls"] = reply.tool_calls
        if reply.reasoning:
            message["reasoning_content"] = reply.reasoning
        return {
            "id": "chatcmpl-noop", "object": "chat.completion", "created": int(time.time()),
            "model": target.upstream_model,
            "choices": [{"index": 0, "message": message, "logprobs": reply.logprobs(),
                         "finish_reason": reply.finish_reason}],
            "usage": reply.usage(),
        }

    async def stream(self, body: JSON, target: Target) -> AsyncIterator[JSON]:
        if self.latency:
            await asyncio.sleep(self.latency)
        reply = _Reply(body, target)
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> JSON:
            return {"id": "chatcmpl-noop", "object": "chat.completion.chunk", "created": created,
                    "model": target.upstream_model,
                    "choices": [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}]}

        yield chunk({"role": "assistant", "content": ""})
        if reply.reasoning:
            yield chunk({"reasoning_content": reply.reasoning})
        for piece in reply.pieces():
            if self.chunk_delay:
                await asyncio.sleep(self.chunk_delay)
            yield chunk({"content": piece})
        if reply.tool_calls:
            yield chunk({"tool_calls": [dict(call, index=i) for i, call in enumerate(reply.tool_calls)]})
        yield chunk({}, reply.finish_reason)
        final = chunk({})
        final["choices"] = []
        final["usage"] = reply.usage()
        yield final


def output_allowance(body: JSON, target: Target) -> int:
    """One choice (n is not offered), at most the limit a real upstream would be sent."""
    return output_limit(body, target.model.max_output)


class _Reply:
    """The deterministic reply to one request."""

    def __init__(self, body: JSON, target: Target) -> None:
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
        self.limit = limit = output_allowance(body, target)
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
