"""What a request needs from a model: features, prompt size and output allowance."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from farebox.tokens import estimate_prompt_tokens


@dataclass(frozen=True, slots=True)
class Needs:
    features: frozenset[str]
    prompt_tokens: int
    max_output: int | None  # what the client asked for (max_completion_tokens or max_tokens)

    def output_for(self, model_max_output: int) -> int:
        return self.max_output if self.max_output is not None else model_max_output


def request_needs(body: dict[str, Any]) -> Needs:
    features: set[str] = set()
    if body.get("tools"):
        features.add("tools")
    tool_choice = body.get("tool_choice")
    if tool_choice is not None and tool_choice not in ("auto", "none"):
        features.add("tool_choice")
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema"):
        features.add(str(response_format["type"]))
    if body.get("logprobs") or body.get("top_logprobs"):
        features.add("logprobs")
    if body.get("reasoning_effort") not in (None, "none", "minimal"):
        features.add("reasoning")
    if _has_images(body.get("messages")):
        features.add("vision")
    max_output = body.get("max_completion_tokens")
    if max_output is None:
        max_output = body.get("max_tokens")
    return Needs(frozenset(features), estimate_prompt_tokens(body), max_output)


def _has_images(messages: Any) -> bool:
    for message in messages or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") in ("image_url", "input_image", "image"):
                    return True
    return False
