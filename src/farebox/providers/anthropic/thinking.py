"""`reasoning_effort` -> Anthropic thinking.

Two request shapes exist. Budgeted thinking ({type: enabled, budget_tokens}), for models up to
the 4.5 generation: low / medium / high -> 1024 / 4096 / 16384 tokens, kept below max_tokens.
Adaptive thinking ({type: adaptive} + output_config.effort), which Claude 4.6 prefers and
Opus 4.7 and later require (they refuse budgets with a 400). The model name decides.
"""

from __future__ import annotations

import re

from farebox.providers.base import JSON

THINKING_BUDGETS = {"low": 1024, "medium": 4096, "high": 16384, "xhigh": 16384}
MIN_THINKING_BUDGET = 1024
# claude-<family>-<major>[-<minor>]...; a date (8 digits) in the minor place means minor 0.
_MODEL_VERSION = re.compile(r"claude-(?:opus|sonnet|haiku|mythos|fable)-(\d+)(?:[-.](\d{1,2})(?!\d))?")


def uses_adaptive_thinking(model: str) -> bool:
    match = _MODEL_VERSION.search(model)
    if match is None:
        return False  # claude-3-x, aliases, proxies' own names: the budgeted form works the longest
    major, minor = int(match.group(1)), int(match.group(2) or 0)
    return (major, minor) >= (4, 6)


def add_thinking(out: JSON, body: JSON) -> bool:
    """Turn thinking on in `out` when the client asked and Anthropic allows; True when on."""
    explicit = body.get("thinking")  # Anthropic's own object, sent by some clients via extra_body
    effort = body.get("reasoning_effort")
    if isinstance(explicit, dict):
        if explicit.get("type") not in ("enabled", "adaptive"):
            return False  # the client's own {type: disabled} wins over reasoning_effort
        requested = explicit
    elif isinstance(effort, str) and effort in THINKING_BUDGETS:
        requested = None
    else:
        return False
    if out.get("tool_choice", {}).get("type") in ("any", "tool") or _continues_tool_turn(out["messages"]):
        # Anthropic refuses forced tool use with thinking, and a tool-result turn needs the signed
        # thinking block of the assistant turn before it, which OpenAI clients never send back.
        return False
    if requested is None and uses_adaptive_thinking(out["model"]):
        out["thinking"] = {"type": "adaptive"}
        out["output_config"] = {"effort": "high" if effort == "xhigh" else effort}
        return True
    if requested is not None and requested["type"] == "adaptive":
        out["thinking"] = {"type": "adaptive"}
        return True
    budget = requested.get("budget_tokens") if requested is not None else THINKING_BUDGETS[str(effort)]
    out["thinking"] = {"type": "enabled", "budget_tokens": _fit_budget(out, budget)}
    return True


def _fit_budget(out: JSON, budget: object) -> int:
    """The budget capped below max_tokens; max_tokens raised when even the minimum does not fit."""
    max_tokens: int = out["max_tokens"]
    wanted = budget if isinstance(budget, int) else MIN_THINKING_BUDGET
    budget = max(MIN_THINKING_BUDGET, min(wanted, max_tokens - 1))
    if budget >= max_tokens:
        out["max_tokens"] = budget + max_tokens  # keep the answer room the client asked for
    return budget


def _continues_tool_turn(turns: list[JSON]) -> bool:
    return len(turns) >= 2 and turns[-2]["role"] == "assistant" and \
        any(b["type"] == "tool_use" for b in turns[-2]["content"])
