"""Token estimates for requests and replies, where no upstream count is available.

Placeholder heuristic (about 4 characters a token, 1 per CJK character); to be replaced by a
calibrated estimator.
"""

from __future__ import annotations

from typing import Any

MESSAGE_OVERHEAD = 4
REPLY_PRIMING = 3


def estimate_text_tokens(text: str) -> int:
    if not text:
        return 0
    cjk = sum(1 for ch in text if ord(ch) >= 0x2E80)
    return cjk + max(1, (len(text) - cjk + 3) // 4)


def estimate_prompt_tokens(body: dict[str, Any]) -> int:
    """Estimated prompt tokens of an OpenAI chat body: messages, tool definitions, images."""
    total = REPLY_PRIMING
    for message in body.get("messages") or []:
        total += MESSAGE_OVERHEAD
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, str):
            total += estimate_text_tokens(content)
        elif isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") == "text":
                    total += estimate_text_tokens(str(part.get("text", "")))
                elif isinstance(part, dict):
                    total += 85
    return total
