"""OpenAI chat body -> Gemini GenerateContentRequest (a dict, encoded by the adapter).

Fields Gemini has no use for (user, metadata, store, parallel_tool_calls, logit_bias, ...) are
never copied: the payload is built from an allow-list, so nothing unknown can reach Google.
"""

from __future__ import annotations

import base64
from typing import Any
from urllib.parse import unquote_to_bytes, urlsplit

import msgspec

from farebox.providers.base import choices, output_limit
from farebox.providers.gemini.schema import clean_schema
from farebox.providers.translate import arguments_object

JSON = dict[str, Any]

THINKING_BUDGETS = {"minimal": 1024, "low": 1024, "medium": 4096, "high": 16384}
# Gemini 3 rejects a replayed functionCall without its thoughtSignature; Google documents this
# value for history it did not produce (other models, or clients that dropped the signature).
SKIP_SIGNATURE = "skip_thought_signature_validator"

_MIME_BY_EXT = {
    "png": "image/png", "jpg": "image/jpeg", "jpeg": "image/jpeg", "webp": "image/webp",
    "gif": "image/gif", "heic": "image/heic", "heif": "image/heif", "pdf": "application/pdf",
}
_SAMPLING = (
    ("temperature", "temperature"), ("top_p", "topP"), ("top_k", "topK"), ("seed", "seed"),
    ("presence_penalty", "presencePenalty"), ("frequency_penalty", "frequencyPenalty"),
    ("n", "candidateCount"),
)
_CHOICE_MODES = {"auto": "AUTO", "none": "NONE", "required": "ANY"}


def output_allowance(body: JSON, max_output: int) -> int:
    """maxOutputTokens x candidateCount, what build_payload lets Gemini bill. maxOutputTokens caps
    thoughts and answer together (Gemini 2.5 and 3 stop with MAX_TOKENS when thinking uses it up),
    and the thinking budget sent is never above it."""
    return output_limit(body, max_output) * choices(body)


def build_payload(body: JSON, max_output: int) -> JSON:
    contents, system = translate_messages(body.get("messages") or [])
    payload: JSON = {"contents": contents}
    if system:
        payload["systemInstruction"] = {"parts": system}
    declarations = translate_tools(body.get("tools"))
    if declarations:
        payload["tools"] = [{"functionDeclarations": declarations}]
        config = tool_config(body.get("tool_choice"))
        if config:
            payload["toolConfig"] = config
    payload["generationConfig"] = generation_config(body, max_output)
    return payload


# -- messages ---------------------------------------------------------------------------------

def translate_messages(messages: list[JSON]) -> tuple[list[JSON], list[JSON]]:
    """(contents, systemInstruction parts). Consecutive turns of one role are merged, which also
    puts the answers to parallel tool calls in the single user turn Gemini expects."""
    contents: list[JSON] = []
    system: list[JSON] = []
    tool_names: dict[str, str] = {}
    for message in messages:
        role = message.get("role")
        if role in ("system", "developer"):
            system.extend(_text_parts(message.get("content")))
            continue
        if role == "assistant":
            gemini_role, parts = "model", _assistant_parts(message, tool_names)
        elif role == "tool":
            gemini_role, parts = "user", [_function_response(message, tool_names)]
        else:
            gemini_role, parts = "user", _user_parts(message.get("content"))
        if not parts:
            continue
        if contents and contents[-1]["role"] == gemini_role:
            contents[-1]["parts"].extend(parts)
        else:
            contents.append({"role": gemini_role, "parts": parts})
    if not contents and system:  # Gemini needs at least one turn; a lone system prompt becomes it
        return [{"role": "user", "parts": system}], []
    return contents, system


def _text_parts(content: Any) -> list[JSON]:
    if isinstance(content, str):
        return [{"text": content}] if content else []
    parts: list[JSON] = []
    for item in content or []:
        text = item.get("text") or item.get("refusal") if isinstance(item, dict) else None
        if text:
            parts.append({"text": text})
    return parts


def _user_parts(content: Any) -> list[JSON]:
    if not isinstance(content, list):
        return _text_parts(content)
    parts: list[JSON] = []
    for item in content:
        kind = item.get("type") if isinstance(item, dict) else None
        part: JSON | None = None
        if kind == "text" and item.get("text"):
            part = {"text": item["text"]}
        elif kind == "image_url":
            image = item.get("image_url")
            url = image.get("url") if isinstance(image, dict) else image
            part = _media_part(url, "image/jpeg") if isinstance(url, str) else None
        elif kind == "input_audio":
            audio = item.get("input_audio") or {}
            mime = f"audio/{audio.get('format', 'wav')}"
            part = {"inlineData": {"mimeType": mime, "data": audio.get("data", "")}}
        elif kind == "file":
            part = _file_part(item.get("file") or {})
        if part:
            parts.append(part)
    return parts


def _media_part(url: str, default_mime: str) -> JSON | None:
    if url.startswith("data:"):
        return _inline_data(url)
    path = urlsplit(url).path
    ext = path.rsplit(".", 1)[-1].lower() if "." in path.rsplit("/", 1)[-1] else ""
    return {"fileData": {"mimeType": _MIME_BY_EXT.get(ext, default_mime), "fileUri": url}}


def _inline_data(url: str) -> JSON | None:
    header, comma, data = url[5:].partition(",")
    if not comma:
        return None
    mime, *params = header.split(";")
    if "base64" not in params:  # a percent-encoded data URL; Gemini wants base64
        data = base64.b64encode(unquote_to_bytes(data)).decode("ascii")
    return {"inlineData": {"mimeType": mime or "text/plain", "data": data}}


def _file_part(file: JSON) -> JSON | None:
    data = file.get("file_data")
    if not isinstance(data, str) or not data:
        return None  # file_id references an OpenAI upload Gemini cannot see
    if data.startswith("data:"):
        return _inline_data(data)
    name = str(file.get("filename") or "")
    mime = _MIME_BY_EXT.get(name.rsplit(".", 1)[-1].lower(), "application/pdf")
    return {"inlineData": {"mimeType": mime, "data": data}}


def _assistant_parts(message: JSON, tool_names: dict[str, str]) -> list[JSON]:
    parts = _text_parts(message.get("content"))
    calls: list[JSON] = []
    for call in message.get("tool_calls") or []:
        function = call.get("function") or {}
        name = function.get("name") or ""
        if call.get("id"):
            tool_names[call["id"]] = name
        part: JSON = {"functionCall": {"name": name, "args": arguments_object(function.get("arguments"))}}
        signature = ((call.get("extra_content") or {}).get("google") or {}).get("thought_signature")
        if signature:
            part["thoughtSignature"] = signature
        calls.append(part)
    if calls and not any("thoughtSignature" in c for c in calls):
        calls[0]["thoughtSignature"] = SKIP_SIGNATURE  # only the first call of a turn carries one
    return parts + calls


def _function_response(message: JSON, tool_names: dict[str, str]) -> JSON:
    content = message.get("content")
    if isinstance(content, list):
        content = "".join(p.get("text", "") for p in content if isinstance(p, dict))
    text = content if isinstance(content, str) else ""
    name = tool_names.get(message.get("tool_call_id") or "") or message.get("name") or "unknown"
    response: Any = None
    if text.lstrip().startswith("{"):
        try:
            response = msgspec.json.decode(text)
        except msgspec.DecodeError:
            response = None
    if not isinstance(response, dict):
        response = {"result": text}
    return {"functionResponse": {"name": name, "response": response}}


# -- tools ------------------------------------------------------------------------------------

def translate_tools(tools: Any) -> list[JSON]:
    declarations: list[JSON] = []
    for tool in tools or []:
        if not isinstance(tool, dict) or tool.get("type", "function") != "function":
            continue
        function = tool.get("function") or {}
        declaration: JSON = {"name": function.get("name", "")}
        if function.get("description"):
            declaration["description"] = function["description"]
        parameters = clean_schema(function.get("parameters"))
        if parameters.get("properties"):  # Gemini rejects an OBJECT with no properties
            declaration["parameters"] = parameters
        declarations.append(declaration)
    return declarations


def tool_config(choice: Any) -> JSON | None:
    if isinstance(choice, str) and choice in _CHOICE_MODES:
        return {"functionCallingConfig": {"mode": _CHOICE_MODES[choice]}}
    if isinstance(choice, dict):
        name = (choice.get("function") or {}).get("name")
        if name:
            return {"functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": [name]}}
    return None


# -- generation config ------------------------------------------------------------------------

def generation_config(body: JSON, max_output: int) -> JSON:
    config: JSON = {dst: body[src] for src, dst in _SAMPLING if body.get(src) is not None}
    limit = config["maxOutputTokens"] = output_limit(body, max_output)  # per candidate (n -> candidateCount)
    stop = body.get("stop")
    if isinstance(stop, str) and stop:
        config["stopSequences"] = [stop]
    elif isinstance(stop, list) and stop:
        config["stopSequences"] = [s for s in stop if isinstance(s, str) and s]
    _response_format(config, body.get("response_format"))
    if body.get("logprobs"):
        config["responseLogprobs"] = True
        if body.get("top_logprobs") is not None:
            config["logprobs"] = body["top_logprobs"]
    effort = body.get("reasoning_effort")
    if effort == "none":
        config["thinkingConfig"] = {"thinkingBudget": 0}
    elif effort in THINKING_BUDGETS:
        budget = min(THINKING_BUDGETS[effort], limit)
        config["thinkingConfig"] = {"thinkingBudget": budget, "includeThoughts": True}
    return config


def _response_format(config: JSON, response_format: Any) -> None:
    kind = response_format.get("type") if isinstance(response_format, dict) else None
    if kind == "json_object":
        config["responseMimeType"] = "application/json"
    elif kind == "json_schema":
        config["responseMimeType"] = "application/json"
        schema = (response_format.get("json_schema") or {}).get("schema")
        if isinstance(schema, dict):
            config["responseSchema"] = clean_schema(schema)
