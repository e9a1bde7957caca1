"""Gemini API (generativelanguage v1beta) response wire types, as far as we read them.

Decoded with msgspec: unknown fields are ignored, so new upstream fields never break parsing.
Requests are built as plain dicts (see providers/gemini/request.py); only answers are typed.
"""

from __future__ import annotations

from typing import Any

import msgspec


class _Wire(msgspec.Struct, rename="camel"):
    pass


class FunctionCall(_Wire):
    name: str = ""
    args: dict[str, Any] | None = None
    id: str | None = None


class Part(_Wire):
    text: str | None = None
    thought: bool = False
    thought_signature: str | None = None
    function_call: FunctionCall | None = None


class Content(_Wire):
    parts: list[Part] = []
    role: str | None = None


class LogprobsCandidate(_Wire):
    token: str = ""
    token_id: int | None = None
    log_probability: float = 0.0


class TopCandidates(_Wire):
    candidates: list[LogprobsCandidate] = []


class LogprobsResult(_Wire):
    top_candidates: list[TopCandidates] = []
    chosen_candidates: list[LogprobsCandidate] = []


class Candidate(_Wire):
    content: Content | None = None
    finish_reason: str | None = None
    index: int = 0
    logprobs_result: LogprobsResult | None = None


class UsageMetadata(_Wire):
    prompt_token_count: int = 0
    cached_content_token_count: int = 0
    candidates_token_count: int = 0
    tool_use_prompt_token_count: int = 0
    thoughts_token_count: int = 0
    total_token_count: int = 0


class PromptFeedback(_Wire):
    block_reason: str | None = None


class ErrorDetail(_Wire):
    code: int = 0
    message: str = ""
    status: str = ""
    details: list[dict[str, Any]] = []


class GenerateContentResponse(_Wire):
    """One generateContent answer, or one SSE event of streamGenerateContent (a partial one)."""

    candidates: list[Candidate] = []
    prompt_feedback: PromptFeedback | None = None
    usage_metadata: UsageMetadata | None = None
    model_version: str | None = None
    response_id: str | None = None
    error: ErrorDetail | None = None  # only in a stream event that reports a failure


class ErrorEnvelope(_Wire):
    error: ErrorDetail


response_decoder = msgspec.json.Decoder(GenerateContentResponse)
