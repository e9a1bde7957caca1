"""An OpenAI chat body -> an Anthropic Messages API body.

Only fields Anthropic accepts are sent (an allow-list): penalties, seed, logprobs, logit_bias,
store, service_tier and the like are dropped, never forwarded.
"""

from __future__ import annotations

from typing import Any

from farebox.providers.anthropic.messages import bad_request, translate_messages
from farebox.providers.anthropic.thinking import add_thinking, thinking_max_tokens
from farebox.providers.base import JSON, output_limit

# JSON mode is emulated with a forced tool (Anthropic has no response_format). An object schema is
# the tool's input as is; any other schema is wrapped as {"value": schema} (input_schema must be an
# object) and unwrapped on the way back. The names are ours, so a client tool cannot clash.
JSON_TOOL = "farebox_json_output"
JSON_VALUE_TOOL = "farebox_json_value"
JSON_TOOLS = frozenset({JSON_TOOL, JSON_VALUE_TOOL})

# With thinking on, Anthropic accepts top_p only in this range and refuses temperature/top_k changes.
MIN_TOP_P_WITH_THINKING = 0.95


def output_allowance(body: JSON, *, upstream_model: str, max_output: int) -> int:
    """The most max_tokens build_payload sends for this body (one choice: Anthropic has no n)."""
    return thinking_max_tokens(body, upstream_model, output_limit(body, max_output), max_output)


def build_payload(body: JSON, *, upstream_model: str, max_output: int, stream: bool) -> JSON:
    n = body.get("n")
    if isinstance(n, int) and n > 1:
        raise bad_request("n > 1 is not supported by this model", "n", code="unsupported_feature")
    messages = body.get("messages")
    if not isinstance(messages, list):
        raise bad_request("messages must be a list", "messages")
    system, turns = translate_messages(messages)
    out: JSON = {"model": upstream_model, "messages": turns}
    if system:
        # A plain string unless the client marked cache breakpoints, which need blocks.
        out["system"] = system if any("cache_control" in b for b in system) else \
            "\n\n".join(b["text"] for b in system)
    out["max_tokens"] = output_limit(body, max_output)  # thinking may raise it, within output_allowance
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
    _add_sampling(out, body, max_output)
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
    schema = function.get("parameters") or {"type": "object", "properties": {}}
    if "type" not in schema:
        schema = {"type": "object", **schema}  # OpenAI tolerates it missing; Anthropic does not
    out: JSON = {"name": function["name"], "input_schema": schema}
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


def _add_sampling(out: JSON, body: JSON, max_output: int) -> None:
    if add_thinking(out, body, max_output):
        top_p = body.get("top_p")  # Anthropic refuses temperature and top_k with thinking on
        if isinstance(top_p, (int, float)) and top_p >= MIN_TOP_P_WITH_THINKING:
            out["top_p"] = top_p
        return
    temperature = body.get("temperature")
    if isinstance(temperature, (int, float)):
        out["temperature"] = min(float(temperature), 1.0)  # OpenAI's range is 0-2, Anthropic's 0-1
    for name in ("top_p", "top_k"):
        if isinstance(body.get(name), (int, float)):
            out[name] = body[name]
