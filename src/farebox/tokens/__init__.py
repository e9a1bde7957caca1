"""Token estimates where no upstream count is available: `estimate` counts text with calibrated
per-tokenizer-family profiles, `prompt` adds a chat request's structure (and the bound holds
use)."""

from farebox.tokens.estimate import CL100K, O200K, PROFILES, Profile, profile_for_model, text_tokens
from farebox.tokens.prompt import (
    PromptSize,
    estimate_prompt,
    estimate_prompt_tokens,
    estimate_prompt_tokens_with,
    estimate_text_tokens,
)

__all__ = ["CL100K", "O200K", "PROFILES", "Profile", "PromptSize", "estimate_prompt", "estimate_prompt_tokens",
           "estimate_prompt_tokens_with", "estimate_text_tokens", "profile_for_model", "text_tokens"]
