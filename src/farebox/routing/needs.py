"""What a request needs from a model: features, prompt size and output allowance.

Read from the OpenAI chat body on every request, so it only looks at a handful of fields:
tools / functions (tools), a forced tool_choice (tool_choice), response_format json_object /
json_schema, logprobs / top_logprobs (logprobs), reasoning_effort (reasoning), image parts in
messages (vision), n > 1 (n: only deployments that generate several choices). prompt_cache_key is
a hint, not a need: a model without caching ignores it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from farebox.providers.base import choices, clamp_output, requested_output
from farebox.providers.params import FEATURE_PARAM
from farebox.tokens import O200K, estimate_prompt, profile_for_model

IMAGE_PARTS = ("image_url", "input_image", "image")
NO_REASONING = (None, "none", "minimal")  # effort values that ask for no thinking budget



@dataclass(frozen=True, slots=True)
class Needs:
    features: frozenset[str]
    prompt_tokens: int
    max_output: int | None  # what the client asked for (providers/base.py requested_output), read once
    prompt_upper: int = 0  # prompt_tokens can be steered low; this cannot (holds)
    choices: int = 1  # n

    def output_for(self, model_max_output: int) -> int:
        """Output tokens over all choices, as adapters limit them (the hold uses the adapters')."""
        return clamp_output(self.max_output, model_max_output) * self.choices


def request_needs(body: dict[str, Any]) -> Needs:
    features: set[str] = set()
    if body.get("tools") or body.get("functions"):
        features.add("tools")
    tool_choice = body.get("tool_choice")
    if tool_choice is not None and tool_choice not in ("auto", "none"):
        features.add("tool_choice")  # "required" or a named function: the model must honour it
    response_format = body.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in ("json_object", "json_schema"):
        features.add(str(response_format["type"]))
    if body.get("logprobs") or body.get("top_logprobs"):
        features.add("logprobs")
    if body.get("reasoning_effort") not in NO_REASONING:
        features.add("reasoning")
    if _has_images(body.get("messages")):
        features.add("vision")
    n = choices(body)
    if n > 1:
        features.add("n")
    # The model asked for picks the tokenizer profile when its name tells (a `llama-3...` or
    # `gpt-4-...` model counts like cl100k_base); other names, routers and wildcards keep o200k.
    size = estimate_prompt(body, profile_for_model(str(body.get("model") or ""), default=O200K))
    return Needs(frozenset(features), size.estimate, requested_output(body), prompt_upper=size.upper, choices=n)


def param_for(feature: str) -> str:
    """The request field that asked for `feature`."""
    return FEATURE_PARAM.get(feature, feature)


def _has_images(messages: Any) -> bool:
    for message in messages or ():
        content = message.get("content") if isinstance(message, dict) else None
        if isinstance(content, list):
            for part in content:
                if isinstance(part, dict) and part.get("type") in IMAGE_PARTS:
                    return True
    return False
