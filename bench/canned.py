"""Canned OpenAI responses shared by the nginx upstream and the slow upstream.

Shaped like real OpenAI chat completions (ids, fingerprints, usage) so the gateway does
the same parsing work it would do against the real API.
"""

from __future__ import annotations

import json
from typing import Any

MODEL = "gpt-4o-mini-2024-07-18"
CREATED = 1_700_000_000
CHUNK_EVENTS = 24  # role chunk + content chunks + finish chunk; the usage chunk comes after
PROMPT_TOKENS = 9
COMPLETION_TOKENS = CHUNK_EVENTS - 2
WORDS = ["Hello", " there", "!", " This", " is", " a", " canned", " reply", " from", " the", " bench"]


def _dumps(obj: Any) -> str:
    return json.dumps(obj, separators=(",", ":"))


def usage() -> dict[str, Any]:
    return {
        "prompt_tokens": PROMPT_TOKENS,
        "completion_tokens": COMPLETION_TOKENS,
        "total_tokens": PROMPT_TOKENS + COMPLETION_TOKENS,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": 0, "audio_tokens": 0},
    }


def _words() -> list[str]:
    return [WORDS[i % len(WORDS)] for i in range(COMPLETION_TOKENS)]


def completion_json() -> bytes:
    body = {
        "id": "chatcmpl-bench0000000000000000000000",
        "object": "chat.completion",
        "created": CREATED,
        "model": MODEL,
        "choices": [
            {
                "index": 0,
                "message": {"role": "assistant", "content": "".join(_words()), "refusal": None},
                "logprobs": None,
                "finish_reason": "stop",
            }
        ],
        "usage": usage(),
        "service_tier": "default",
        "system_fingerprint": "fp_0000bench",
    }
    return _dumps(body).encode()


def _chunk(choices: list[dict[str, Any]], with_usage: bool = False) -> bytes:
    body: dict[str, Any] = {
        "id": "chatcmpl-bench0000000000000000000000",
        "object": "chat.completion.chunk",
        "created": CREATED,
        "model": MODEL,
        "service_tier": "default",
        "system_fingerprint": "fp_0000bench",
        "choices": choices,
    }
    if with_usage:
        body["usage"] = usage()
    else:
        body["usage"] = None
    return b"data: " + _dumps(body).encode() + b"\n\n"


def stream_events() -> list[bytes]:
    """Every SSE event of one streamed completion, in order, each ending in a blank line."""

    def delta(d: dict[str, Any], finish: str | None = None) -> list[dict[str, Any]]:
        return [{"index": 0, "delta": d, "logprobs": None, "finish_reason": finish}]

    events = [_chunk(delta({"role": "assistant", "content": "", "refusal": None}))]
    events += [_chunk(delta({"content": w})) for w in _words()]
    events.append(_chunk(delta({}, "stop")))
    events.append(_chunk([], with_usage=True))
    events.append(b"data: [DONE]\n\n")
    return events


def stream_body() -> bytes:
    return b"".join(stream_events())


def models_json() -> bytes:
    return _dumps(
        {
            "object": "list",
            "data": [{"id": MODEL, "object": "model", "created": CREATED, "owned_by": "bench"}],
        }
    ).encode()


def request_body(model: str, stream: bool) -> bytes:
    """The POST body wrk sends: a short chat request (stream ones ask for the usage chunk)."""
    body: dict[str, Any] = {
        "model": model,
        "messages": [{"role": "user", "content": "Say hello to the bench."}],
        "max_tokens": 64,
    }
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return _dumps(body).encode()
