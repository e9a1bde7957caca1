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


def requested_budget(body: JSON, model: str) -> int | None:
    """The budget of the budgeted thinking the client asks for; None for none, or adaptive."""
    explicit = body.get("thinking")  # Anthropic's own object, sent by some clients via extra_body
    if isinstance(explicit, dict):
        if explicit.get("type") != "enabled":
            return None
        budget = explicit.get("budget_tokens")
        return budget if isinstance(budget, int) and not isinstance(budget, bool) else MIN_THINKING_BUDGET
    effort = body.get("reasoning_effort")
    if isinstance(effort, str) and effort in THINKING_BUDGETS and not uses_adaptive_thinking(model):
        return THINKING_BUDGETS[effort]
    return None


def fit_thinking(max_tokens: int, wanted: int, max_output: int) -> tuple[int, int] | None:
    """(max_tokens, budget_tokens) for budgeted thinking: the budget capped below max_tokens, and
    max_tokens raised (to at most the model's max_output) when even the minimum does not fit, to
    keep the answer room the client asked for. None when no budget fits under max_output."""
    budget = max(MIN_THINKING_BUDGET, min(wanted, max_tokens - 1))
    if budget < max_tokens:
        return max_tokens, budget
    raised = min(budget + max_tokens, max_output)
    budget = min(budget, raised - 1)
    return (raised, budget) if budget >= MIN_THINKING_BUDGET else None


def thinking_max_tokens(body: JSON, model: str, limit: int, max_output: int) -> int:
    """The most max_tokens add_thinking may set for this body (the hold's output allowance)."""
    wanted = requested_budget(body, model)
    fitted = None if wanted is None else fit_thinking(limit, wanted, max_output)
    return limit if fitted is None else fitted[0]


def add_thinking(out: JSON, body: JSON, max_output: int) -> bool:
    """Turn thinking on in `out` when the client asked and Anthropic allows; True when on."""
    explicit = body.get("thinking")
    effort = body.get("reasoning_effort")
    if isinstance(explicit, dict):
        if explicit.get("type") not in ("enabled", "adaptive"):
            return False  # the client's own {type: disabled} wins over reasoning_effort
    elif not (isinstance(effort, str) and effort in THINKING_BUDGETS):
        return False
    if out.get("tool_choice", {}).get("type") in ("any", "tool") or _continues_tool_turn(out["messages"]):
        # Anthropic refuses forced tool use with thinking, and a tool-result turn needs the signed
        # thinking block of the assistant turn before it, which OpenAI clients never send back.
        return False
    wanted = requested_budget(body, out["model"])
    if wanted is None:  # adaptive: thinking shares max_tokens, which stays as it is
        out["thinking"] = {"type": "adaptive"}
        if not isinstance(explicit, dict):
            out["output_config"] = {"effort": "high" if effort == "xhigh" else effort}
        return True
    fitted = fit_thinking(out["max_tokens"], wanted, max_output)
    if fitted is None:
        return False  # the model's max_output leaves no room for the minimum budget
    out["max_tokens"], budget = fitted
    out["thinking"] = {"type": "enabled", "budget_tokens": budget}
    return True


def _continues_tool_turn(turns: list[JSON]) -> bool:
    return len(turns) >= 2 and turns[-2]["role"] == "assistant" and \
        any(b["type"] == "tool_use" for b in turns[-2]["content"])
