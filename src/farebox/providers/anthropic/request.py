"""An OpenAI chat body -> an Anthropic Messages API body.

Only fields Anthropic accepts are sent (an allow-list): penalties, seed, logprobs, logit_bias,
store, service_tier and the like are dropped, never forwarded.
"""

from __future__ import annotations

from typing import Any

from farebox.providers.anthropic.messages import bad_request, convert_messages
from farebox.providers.base import JSON

# JSON mode is emulated with a forced tool (Anthropic has no response_format). An object schema is
# the tool's input as is; any other schema is wrapped as {"value": schema} (input_schema must be an
# object) and unwrapped on the way back. The names are ours, so a client tool cannot clash.
JSON_TOOL = "farebox_json_output"
JSON_VALUE_TOOL = "farebox_json_value"
JSON_TOOLS = frozenset({JSON_TOOL, JSON_VALUE_TOOL})

THINKING_BUDGETS = {"low": 1024, "medium": 4096, "high": 16384, "xhigh": 16384}
MIN_THINKING_BUDGET = 1024
# With thinking on, Anthropic accepts top_p only in this range and refuses temperature/top_k changes.
MIN_TOP_P_WITH_THINKING = 0.95


def build_body(body: JSON, *, upstream_model: str, default_max_tokens: int, stream: bool) -> JSON:
    n = body.get("n")
    if isinstance(n, int) and n > 1:
        raise bad_request("n > 1 is not supported by this model", "n", code="unsupported_feature")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise bad_request("messages must be a list", "messages")
    system, turns = convert_messages(messages)
    out: JSON = {"model": upstream_model, "messages": turns}
    if system:
        # A plain string unless the client marked cache breakpoints, which need blocks.
        out["system"] = system if any("cache_control" in b for b in system) else \
            "\n\n".join(b["text"] for b in system)
    max_tokens = body.get("max_completion_tokens") or body.get("max_tokens") or default_max_tokens
    out["max_tokens"] = max_tokens
    if stream:
        out["stream"] = True
    stop = body.get("stop")
    if isinstance(stop, str):
        out["stop_sequences"] = [stop]
    elif isinstance(stop, list) and stop:
        out["stop_sequences"] = stop
    user = body.get("user") or body.get("safety_identifier")
    if isinstance(user, str) and user:
        out["metadata"] = {"user_id": user}
    _add_tools(out, body)
    _add_sampling(out, body)
    return out


def _add_tools(out: JSON, body: JSON) -> None:
    tools = [_tool(t, i) for i, t in enumerate(body.get("tools") or [])]
    choice = _tool_choice(body.get("tool_choice")) if tools else None
    json_tool = _json_tool(body.get("response_format"))
    if json_tool is not None:
        # The answer must come through our tool: forced when it is the only one the model may use,
        # else "any" (a client tool, or ours); a client's forced tool stays forced.
        kind = choice["type"] if choice else "auto"
        if not tools or kind == "none":
            choice = {"type": "tool", "name": json_tool["name"]}
        elif kind != "tool":
            choice = {"type": "any"}
        tools.append(json_tool)
    if not tools:
        return
    if body.get("parallel_tool_calls") is False and (choice is None or choice["type"] != "none"):
        choice = {**(choice or {"type": "auto"}), "disable_parallel_tool_use": True}
    out["tools"] = tools
    if choice is not None:
        out["tool_choice"] = choice


def _tool(tool: Any, i: int) -> JSON:
    function = tool.get("function") if isinstance(tool, dict) and tool.get("type") == "function" else None
    if not isinstance(function, dict) or not isinstance(function.get("name"), str):
        raise bad_request(f"tools[{i}]: only function tools are supported by this model", f"tools[{i}]",
                          code="unsupported_feature")
    out: JSON = {"name": function["name"],
                 "input_schema": function.get("parameters") or {"type": "object", "properties": {}}}
    if function.get("description"):
        out["description"] = function["description"]
    if isinstance(tool.get("cache_control"), dict):
        out["cache_control"] = tool["cache_control"]
    return out


def _tool_choice(choice: Any) -> JSON | None:
    if choice is None:
        return None
    if choice in ("auto", "none"):
        return {"type": choice}
    if choice == "required":
        return {"type": "any"}
    if isinstance(choice, dict) and isinstance(choice.get("function"), dict) \
            and isinstance(choice["function"].get("name"), str):
        return {"type": "tool", "name": choice["function"]["name"]}
    raise bad_request("tool_choice must be auto, none, required or a function", "tool_choice")


def _json_tool(response_format: Any) -> JSON | None:
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind in (None, "text"):
        return None
    if kind == "json_object":
        return {"name": JSON_TOOL, "description": "Give your final answer as a JSON object.",
                "input_schema": {"type": "object"}}
    spec = response_format.get("json_schema") if kind == "json_schema" else None
    if not isinstance(spec, dict):
        raise bad_request("response_format must be text, json_object or json_schema", "response_format")
    schema = spec.get("schema") or {"type": "object"}
    description = "Give your final answer as JSON matching this schema."
    if spec.get("description"):
        description += f" {spec['description']}"
    if schema.get("type") == "object":
        return {"name": JSON_TOOL, "description": description, "input_schema": schema}
    return {"name": JSON_VALUE_TOOL, "description": description + " Put the answer in `value`.",
            "input_schema": {"type": "object", "properties": {"value": schema}, "required": ["value"]}}


def _add_sampling(out: JSON, body: JSON) -> None:
    thinking = _thinking(out, body)
    if thinking is not None:
        out["thinking"] = thinking
        top_p = body.get("top_p")
        if isinstance(top_p, (int, float)) and top_p >= MIN_TOP_P_WITH_THINKING:
            out["top_p"] = top_p
        return
    temperature = body.get("temperature")
    if isinstance(temperature, (int, float)):
        out["temperature"] = min(float(temperature), 1.0)  # OpenAI's range is 0-2, Anthropic's 0-1
    for name in ("top_p", "top_k"):
        if isinstance(body.get(name), (int, float)):
            out[name] = body[name]


def _thinking(out: JSON, body: JSON) -> JSON | None:
    """The thinking config, sizing max_tokens around it; None when thinking is off or impossible."""
    explicit = body.get("thinking")  # Anthropic's own object, passed by clients via extra_body
    effort = body.get("reasoning_effort")
    if isinstance(explicit, dict) and explicit.get("type") == "enabled":
        budget = explicit.get("budget_tokens")
        budget = budget if isinstance(budget, int) else MIN_THINKING_BUDGET
    elif isinstance(effort, str) and effort in THINKING_BUDGETS:
        budget = THINKING_BUDGETS[effort]
    else:
        return None
    if out.get("tool_choice", {}).get("type") in ("any", "tool") or _continues_tool_turn(out["messages"]):
        # Anthropic refuses forced tool use with thinking, and a tool-result turn needs the signed
        # thinking block of the assistant turn before it, which OpenAI clients never send back.
        return None
    max_tokens = out["max_tokens"]
    budget = max(MIN_THINKING_BUDGET, min(budget, max_tokens - 1))
    if budget >= max_tokens:
        out["max_tokens"] = budget + max_tokens  # keep the answer room the client asked for
    return {"type": "enabled", "budget_tokens": budget}


def _continues_tool_turn(turns: list[JSON]) -> bool:
    return len(turns) >= 2 and turns[-2]["role"] == "assistant" and \
        any(b["type"] == "tool_use" for b in turns[-2]["content"])
