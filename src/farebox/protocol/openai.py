"""OpenAI chat wire shapes: strict request validation, and normalising upstream answers so
every body and chunk we send validates against the official spec.

Requests are validated against typed structs (wrong types are a 400 naming the field; no
coercion), but the adapters work from the client's own decoded dict (which fields of it reach an
upstream is providers/params.py's allow-list).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec

Role = Literal["system", "developer", "user", "assistant", "tool", "function"]
FINISH_REASONS = frozenset({"stop", "length", "tool_calls", "content_filter", "function_call"})


class _Open(msgspec.Struct, kw_only=True):
    """Unknown fields are allowed (the allow-list in providers/params.py decides what is sent)."""


class ImageUrl(_Open, kw_only=True):
    url: str
    detail: str | None = None


class ContentPart(_Open, kw_only=True):
    type: str
    text: str | None = None
    image_url: ImageUrl | None = None


class FunctionCall(_Open, kw_only=True):
    name: str
    arguments: str


class ToolCall(_Open, kw_only=True):
    id: str
    type: str = "function"
    function: FunctionCall


class Message(_Open, kw_only=True):
    role: Role
    content: str | list[ContentPart] | None = None
    name: str | None = None
    tool_calls: list[ToolCall] | None = None
    tool_call_id: str | None = None
    reasoning_content: str | None = None


class FunctionDef(_Open, kw_only=True):
    name: str
    description: str | None = None
    parameters: dict[str, Any] | None = None
    strict: bool | None = None


class Tool(_Open, kw_only=True):
    type: str
    function: FunctionDef | None = None


class NamedFunction(_Open, kw_only=True):
    name: str


class ToolChoice(_Open, kw_only=True):
    type: str
    function: NamedFunction | None = None


class ResponseFormat(_Open, kw_only=True):
    type: Literal["text", "json_object", "json_schema"]
    json_schema: dict[str, Any] | None = None


class StreamOptions(_Open, kw_only=True):
    include_usage: bool | None = None


# Free strings a client sends and farebox may repeat (in errors, logs, the ledger) are bounded.
ModelName = Annotated[str, msgspec.Meta(max_length=256)]
ShortText = Annotated[str, msgspec.Meta(max_length=256)]


class ChatRequest(_Open, kw_only=True):
    model: ModelName
    messages: list[Message]
    stream: bool | None = None
    stream_options: StreamOptions | None = None
    temperature: float | None = None
    top_p: float | None = None
    n: int | None = None
    max_tokens: int | None = None
    max_completion_tokens: int | None = None
    stop: str | list[str] | None = None
    seed: int | None = None
    tools: list[Tool] | None = None
    tool_choice: Literal["none", "auto", "required"] | ToolChoice | None = None
    parallel_tool_calls: bool | None = None
    response_format: ResponseFormat | None = None
    logprobs: bool | None = None
    top_logprobs: int | None = None
    presence_penalty: float | None = None
    frequency_penalty: float | None = None
    logit_bias: dict[str, float] | None = None
    top_k: int | None = None
    min_p: float | None = None
    repetition_penalty: float | None = None
    reasoning_effort: str | None = None
    prompt_cache_key: ShortText | None = None
    user: ShortText | None = None
    chat_template_kwargs: dict[str, Any] | None = None
    metadata: dict[str, Any] | None = None


class RequestError(ValueError):
    def __init__(self, message: str, param: str | None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param


_RANGES: dict[str, tuple[float, float]] = {
    "temperature": (0, 2), "top_p": (0, 1), "presence_penalty": (-2, 2), "frequency_penalty": (-2, 2),
    "n": (1, 128), "max_tokens": (1, 10**9), "max_completion_tokens": (1, 10**9), "top_logprobs": (0, 20),
    "min_p": (0, 1), "repetition_penalty": (0, 10**6), "top_k": (-1, 10**6),
}


def validate_chat_request(raw: Any) -> ChatRequest:
    """Validate a decoded body; raise RequestError with the offending field as `param`."""
    if not isinstance(raw, dict):
        raise RequestError("The request body must be a JSON object.", None)
    try:
        request = msgspec.convert(raw, ChatRequest, strict=True)
    except msgspec.ValidationError as exc:
        what, where = located(str(exc))
        if where is None:
            raise RequestError(str(exc), None) from None
        param = where or None
        raise RequestError(f"Invalid value for '{param}': {what}.", param) from None
    if not request.messages:
        raise RequestError("'messages' must contain at least one message.", "messages")
    if not request.model:
        raise RequestError("'model' must not be empty.", "model")
    for name, (low, high) in _RANGES.items():
        value = getattr(request, name)
        if value is not None and not low <= value <= high:
            raise RequestError(f"'{name}' must be between {low} and {high}; got {value}.", name)
    if isinstance(request.stop, list) and len(request.stop) > 16:
        raise RequestError("'stop' may hold at most 16 sequences.", "stop")
    return request


def located(message: str) -> tuple[str, str | None]:
    """A msgspec validation message ("Expected `int`, got `str` - at `$.a[0].b`") as what is
    wrong (without backticks) and where: the path after `$.` ("a[0].b"; "" for the top level),
    or None when msgspec named no place. The one reading of that message (config.py uses it too)."""
    text, sep, where = message.rpartition(" - at `")
    if not sep:
        return message.replace("`", ""), None
    return text.replace("`", ""), where.rstrip("`").removeprefix("$").lstrip(".")


def json_depth_exceeds(doc: Any, limit: int) -> bool:
    """True when `doc` nests deeper than `limit` (iterative: no recursion on hostile input)."""
    stack: list[tuple[Any, int]] = [(doc, 1)]
    while stack:
        node, depth = stack.pop()
        if depth > limit:
            return True
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values() if isinstance(v, (dict, list)))
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node if isinstance(v, (dict, list)))
    return False


def _finish(reason: Any) -> str | None:
    if reason is None or reason in FINISH_REASONS:
        return reason  # type: ignore[no-any-return]
    return "length" if reason in ("max_tokens", "MAX_TOKENS") else "stop"


def _fix_tool_calls(calls: Any, *, streaming: bool) -> None:
    if not isinstance(calls, list):
        return
    for i, call in enumerate(calls):
        if not isinstance(call, dict):
            continue
        if streaming:
            call.setdefault("index", i)
        if "id" in call or not streaming:
            call.setdefault("type", "function")
        function = call.get("function")
        if isinstance(function, dict) and not streaming:
            function.setdefault("arguments", "")
            if not isinstance(function["arguments"], str):  # some servers send an object
                function["arguments"] = msgspec.json.encode(function["arguments"]).decode()


def _drop_nulls(doc: dict[str, Any], *names: str) -> None:
    for name in names:
        if name in doc and doc[name] is None:
            del doc[name]


def normalize_completion(doc: dict[str, Any], *, id: str, model: str, created: int) -> dict[str, Any]:
    """Make an upstream chat.completion spec-exact, in place: ids, model, required nulls."""
    doc["id"], doc["object"], doc["model"] = id, "chat.completion", model
    if not isinstance(doc.get("created"), int):
        doc["created"] = created
    _drop_nulls(doc, "system_fingerprint", "service_tier", "prompt_logprobs", "kv_transfer_params")
    for i, choice in enumerate(doc.get("choices") or []):
        choice.setdefault("index", i)
        choice.setdefault("logprobs", None)
        choice["finish_reason"] = _finish(choice.get("finish_reason")) or "stop"
        message = choice.get("message")
        if not isinstance(message, dict):
            message = choice["message"] = {"role": "assistant", "content": None}
        message["role"] = "assistant"
        message.setdefault("content", None)
        message.setdefault("refusal", None)
        if not message.get("tool_calls"):
            message.pop("tool_calls", None)
        else:
            _fix_tool_calls(message["tool_calls"], streaming=False)
        _drop_nulls(message, "reasoning_content", "reasoning", "audio", "function_call")
        _drop_nulls(choice, "stop_reason")
    return doc


def chunk_head(*, id: str, model: str, created: int) -> dict[str, Any]:
    """The fields every chunk of one stream gets, in the order normalize_chunk sets them."""
    return {"id": id, "object": "chat.completion.chunk", "model": model, "created": created}


def normalize_chunk(chunk: dict[str, Any], head: dict[str, Any]) -> dict[str, Any]:
    """Make an upstream chat.completion.chunk spec-exact, in place (`head` from chunk_head).
    Per chunk on the hot path: each fix-up is guarded by a cheap test that the field needs it."""
    chunk.update(head)
    if None in chunk.values():
        _drop_nulls(chunk, "system_fingerprint", "service_tier")
    choices = chunk.get("choices")
    if not isinstance(choices, list):
        chunk["choices"] = choices = []
    for i, choice in enumerate(choices):
        if "index" not in choice:
            choice["index"] = i
        reason = choice.get("finish_reason")
        if reason is None:
            if "finish_reason" not in choice:
                choice["finish_reason"] = None
        elif reason not in FINISH_REASONS:
            choice["finish_reason"] = _finish(reason)
        delta = choice.get("delta")
        if not isinstance(delta, dict):
            choice["delta"] = delta = {}
        if delta.get("tool_calls"):
            _fix_tool_calls(delta["tool_calls"], streaming=True)
        elif "tool_calls" in delta:
            del delta["tool_calls"]
        if None in delta.values():
            _drop_nulls(delta, "reasoning_content", "reasoning", "function_call", "role", "refusal")
        if choice.get("stop_reason", 0) is None:
            del choice["stop_reason"]
    return chunk
