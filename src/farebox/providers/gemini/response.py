"""Gemini GenerateContentResponse -> OpenAI chat.completion pieces (shared with the stream)."""

from __future__ import annotations

import secrets
from typing import Any

import msgspec

from farebox.protocol.gemini import (
    Candidate,
    FunctionCall,
    GenerateContentResponse,
    LogprobsResult,
    Part,
    UsageMetadata,
)

JSON = dict[str, Any]

_FINISH_REASONS = {
    "STOP": "stop", "MAX_TOKENS": "length",
    "SAFETY": "content_filter", "RECITATION": "content_filter", "BLOCKLIST": "content_filter",
    "PROHIBITED_CONTENT": "content_filter", "SPII": "content_filter", "LANGUAGE": "content_filter",
    "IMAGE_SAFETY": "content_filter", "IMAGE_PROHIBITED_CONTENT": "content_filter",
    "IMAGE_RECITATION": "content_filter",
}
_encoder = msgspec.json.Encoder()


def finish_reason(reason: str | None, has_tool_calls: bool) -> str:
    """OpenAI's finish_reason. Unknown or odd reasons (OTHER, MALFORMED_FUNCTION_CALL) are "stop"."""
    mapped = _FINISH_REASONS.get(reason or "STOP", "stop")
    return "tool_calls" if mapped == "stop" and has_tool_calls else mapped


def new_id(prefix: str) -> str:
    return prefix + secrets.token_hex(12)


def tool_call(call: FunctionCall, signature: str | None) -> JSON:
    out: JSON = {
        "id": call.id or new_id("call_"),
        "type": "function",
        "function": {"name": call.name, "arguments": _encoder.encode(call.args or {}).decode()},
    }
    if signature:  # Google's OpenAI-compatible convention; clients echo it back with the call
        out["extra_content"] = {"google": {"thought_signature": signature}}
    return out


def split_parts(parts: list[Part]) -> tuple[str, str, list[JSON]]:
    """(answer text, thought text, tool calls) of a candidate's parts, in order."""
    text: list[str] = []
    thoughts: list[str] = []
    calls: list[JSON] = []
    for part in parts:
        if part.function_call is not None:
            calls.append(tool_call(part.function_call, part.thought_signature))
        elif part.text:
            (thoughts if part.thought else text).append(part.text)
    return "".join(text), "".join(thoughts), calls


def openai_usage(meta: UsageMetadata | None) -> JSON:
    """OpenAI usage. promptTokenCount already includes cached tokens; tool-use prompt tokens and
    thoughts are counted beside the prompt and the candidates, so they are added here."""
    meta = meta or UsageMetadata()
    prompt = meta.prompt_token_count + meta.tool_use_prompt_token_count
    completion = meta.candidates_token_count + meta.thoughts_token_count
    return {
        "prompt_tokens": prompt,
        "completion_tokens": completion,
        "total_tokens": prompt + completion,
        "prompt_tokens_details": {"cached_tokens": meta.cached_content_token_count, "cache_write_tokens": 0},
        "completion_tokens_details": {"reasoning_tokens": meta.thoughts_token_count},
    }


def logprobs(result: LogprobsResult | None) -> JSON | None:
    if result is None or not result.chosen_candidates:
        return None
    content = []
    for i, chosen in enumerate(result.chosen_candidates):
        top = result.top_candidates[i].candidates if i < len(result.top_candidates) else []
        content.append({
            "token": chosen.token,
            "logprob": chosen.log_probability,
            "bytes": list(chosen.token.encode()),
            "top_logprobs": [
                {"token": t.token, "logprob": t.log_probability, "bytes": list(t.token.encode())} for t in top
            ],
        })
    return {"content": content, "refusal": None}


def _choice(candidate: Candidate) -> JSON:
    text, thoughts, calls = split_parts(candidate.content.parts if candidate.content else [])
    message: JSON = {"role": "assistant", "content": text or (None if calls else ""), "refusal": None}
    if thoughts:
        message["reasoning_content"] = thoughts
    if calls:
        message["tool_calls"] = calls
    return {
        "index": candidate.index,
        "message": message,
        "logprobs": logprobs(candidate.logprobs_result),
        "finish_reason": finish_reason(candidate.finish_reason, bool(calls)),
    }


def blocked_choice(block_reason: str | None) -> JSON:
    """The one choice of an answer with no candidates: Gemini blocked the prompt itself."""
    return {
        "index": 0,
        "message": {"role": "assistant", "content": "", "refusal": None},
        "logprobs": None,
        "finish_reason": "content_filter" if block_reason else "stop",
    }


def to_completion(resp: GenerateContentResponse, model: str, created: int) -> JSON:
    choices = [_choice(c) for c in resp.candidates]
    if not choices:
        choices = [blocked_choice(resp.prompt_feedback.block_reason if resp.prompt_feedback else None)]
    return {
        "id": "chatcmpl-" + resp.response_id if resp.response_id else new_id("chatcmpl-"),
        "object": "chat.completion",
        "created": created,
        "model": resp.model_version or model,
        "choices": choices,
        "usage": openai_usage(resp.usage_metadata),
    }
