"""Request and chunk fixes for single OpenAI-compatible providers, used by the rows of presets.py.

A fix gets the outgoing body (a fresh top-level dict) and changes it in place, but never changes
the client's nested objects: the same body may go to another deployment after a failover, so
messages are copied before they are touched.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

JSON = dict[str, Any]

_BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_MISTRAL_ID = re.compile(r"[A-Za-z0-9]{9}")


def mistral_tool_id(call_id: str) -> str:
    """Mistral wants tool call IDs of exactly 9 letters or digits. Its own IDs already are; any
    other (OpenAI's call_..., Anthropic's toolu_...) is hashed to 9, the same way every time, so
    an assistant's tool_calls and the tool messages answering them still match."""
    if _MISTRAL_ID.fullmatch(call_id):
        return call_id
    number = int.from_bytes(hashlib.sha256(call_id.encode()).digest()[:8], "big")
    return "".join(_BASE62[(number // 62**i) % 62] for i in range(9))


def _rewrite_messages(out: JSON, fix: Any) -> None:
    messages = out.get("messages")
    if isinstance(messages, list):
        out["messages"] = [fix(dict(m)) if isinstance(m, dict) else m for m in messages]


def _without(message: JSON, *fields: str) -> JSON:
    for field in fields:
        message.pop(field, None)
    return message


def fix_mistral(out: JSON) -> None:
    def fix(message: JSON) -> JSON:
        _without(message, "reasoning_content", "reasoning", "refusal", "audio")
        if isinstance(message.get("tool_call_id"), str):
            message["tool_call_id"] = mistral_tool_id(message["tool_call_id"])
        calls = message.get("tool_calls")
        if isinstance(calls, list):
            message["tool_calls"] = [
                {**c, "id": mistral_tool_id(c["id"])} if isinstance(c, dict) and isinstance(c.get("id"), str)
                else c for c in calls]
        return message

    _rewrite_messages(out, fix)


def fix_deepseek(out: JSON) -> None:
    """DeepSeek answers 400 to reasoning_content from earlier turns; within the current turn (the
    assistant tool-call steps after the last user message) its thinking mode needs it back."""
    messages = out.get("messages")
    if not isinstance(messages, list):
        return
    last_user = max((i for i, m in enumerate(messages) if isinstance(m, dict) and m.get("role") == "user"),
                    default=-1)
    if not any(isinstance(m, dict) and "reasoning_content" in m for m in messages[:last_user]):
        return
    out["messages"] = [_without(dict(m), "reasoning_content") if i < last_user and isinstance(m, dict) else m
                       for i, m in enumerate(messages)]


def fix_groq(out: JSON) -> None:
    """Groq answers 400 to messages[].name (and to any n but 1: the preset drops n)."""
    if any(isinstance(m, dict) and ("name" in m or "reasoning_content" in m) for m in out.get("messages") or ()):
        _rewrite_messages(out, lambda m: _without(m, "name", "reasoning_content"))


def fix_strip_reasoning(out: JSON) -> None:
    """Servers that reject or choke on echoed reasoning_content in the history."""
    if any(isinstance(m, dict) and "reasoning_content" in m for m in out.get("messages") or ()):
        _rewrite_messages(out, lambda m: _without(m, "reasoning_content"))


def lift_groq_usage(chunk: JSON) -> None:
    """Groq streams its usage in x_groq.usage on the last chunk; OpenAI's place is `usage`."""
    extra = chunk.get("x_groq")
    if isinstance(extra, dict) and isinstance(extra.get("usage"), dict) and not chunk.get("usage"):
        chunk["usage"] = extra["usage"]
