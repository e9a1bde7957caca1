"""OpenAI chat messages -> Anthropic `system` + `messages`.

Anthropic has no system role (all system/developer text goes to the top-level `system`), wants
tool results as `tool_result` blocks in a user turn, and merges consecutive same-role turns; we
merge them ourselves so the request we send is the one Anthropic reads.
"""

from __future__ import annotations

from typing import Any

from farebox.providers.base import JSON, UpstreamError
from farebox.providers.translate import arguments_object

_IMAGE_TYPES = frozenset({"image/jpeg", "image/png", "image/gif", "image/webp"})


def bad_request(message: str, param: str | None = None, code: str = "invalid_request_error") -> UpstreamError:
    """A request this adapter cannot translate: the client's fault, so no other try."""
    return UpstreamError(400, message, code=code, type="invalid_request_error", param=param)


def translate_messages(messages: list[Any]) -> tuple[list[JSON], list[JSON]]:
    """(system blocks, messages). Messages come out merged by role, content always as blocks."""
    system: list[JSON] = []
    turns: list[JSON] = []
    for i, message in enumerate(messages):
        if not isinstance(message, dict):
            raise bad_request(f"messages[{i}] must be an object", f"messages[{i}]")
        role = message.get("role")
        where = f"messages[{i}]"
        if role in ("system", "developer"):
            system.extend(_text_blocks(message.get("content"), f"{where}.content"))
            continue
        if role == "user":
            blocks = _user_blocks(message.get("content"), f"{where}.content")
        elif role == "assistant":
            role, blocks = "assistant", _assistant_blocks(message, where)
        elif role == "tool":
            role, blocks = "user", [_tool_result(message, where)]
        else:
            raise bad_request(f"{where}.role {role!r} is not supported by this model", f"{where}.role")
        if not blocks:
            continue  # Anthropic rejects empty turns; an empty message says nothing anyway
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    return system, turns


def _text_blocks(content: Any, where: str) -> list[JSON]:
    if content is None:
        return []
    if isinstance(content, str):
        return [{"type": "text", "text": content}] if content else []
    if not isinstance(content, list):
        raise bad_request(f"{where} must be a string or a list of parts", where)
    blocks = []
    for j, part in enumerate(content):
        if not isinstance(part, dict) or part.get("type") not in ("text", "refusal"):
            raise bad_request(f"{where}[{j}]: only text parts are allowed here", f"{where}[{j}]")
        text = part.get("text") if part["type"] == "text" else part.get("refusal")
        if isinstance(text, str) and text:
            blocks.append(_with_cache_control({"type": "text", "text": text}, part))
    return blocks


def _user_blocks(content: Any, where: str) -> list[JSON]:
    if not isinstance(content, list):
        return _text_blocks(content, where)
    blocks = []
    for j, part in enumerate(content):
        kind = part.get("type") if isinstance(part, dict) else None
        at = f"{where}[{j}]"
        if kind == "text":
            blocks.extend(_text_blocks([part], where))
        elif kind == "image_url":
            blocks.append(_with_cache_control(_image_block(part.get("image_url"), at), part))
        elif kind == "file":
            blocks.append(_with_cache_control(_document_block(part.get("file"), at), part))
        else:
            raise bad_request(f"{at}: content part type {kind!r} is not supported by this model",
                              at, code="unsupported_feature")
    return blocks


def _image_block(image: Any, where: str) -> JSON:
    url = image.get("url") if isinstance(image, dict) else image
    if not isinstance(url, str) or not url:
        raise bad_request(f"{where}.image_url.url is required", f"{where}.image_url")
    if url.startswith("data:"):
        media_type, data = _parse_data_url(url, where)
        if media_type not in _IMAGE_TYPES:
            raise bad_request(f"{where}: image type {media_type!r} is not supported "
                              f"(use jpeg, png, gif or webp)", f"{where}.image_url")
        return {"type": "image", "source": {"type": "base64", "media_type": media_type, "data": data}}
    if url.startswith(("http://", "https://")):
        return {"type": "image", "source": {"type": "url", "url": url}}
    raise bad_request(f"{where}: image_url.url must be an http(s) or data: URL", f"{where}.image_url")


def _document_block(file: Any, where: str) -> JSON:
    data_url = file.get("file_data") if isinstance(file, dict) else None
    if not isinstance(data_url, str):
        raise bad_request(f"{where}: only inline files (file.file_data) are supported here", f"{where}.file",
                          code="unsupported_feature")
    media_type, data = _parse_data_url(data_url, where)
    if media_type != "application/pdf":
        raise bad_request(f"{where}: only PDF files are supported here", f"{where}.file",
                          code="unsupported_feature")
    return {"type": "document", "source": {"type": "base64", "media_type": media_type, "data": data}}


def _parse_data_url(url: str, where: str) -> tuple[str, str]:
    header, sep, data = url.partition(",")
    if not sep or not header.endswith(";base64"):
        raise bad_request(f"{where}: data URLs must be base64 (data:<type>;base64,...)", where)
    return header[5:-7].lower(), data


def _assistant_blocks(message: JSON, where: str) -> list[JSON]:
    blocks = _text_blocks(message.get("content"), f"{where}.content")
    for k, call in enumerate(message.get("tool_calls") or []):
        at = f"{where}.tool_calls[{k}]"
        function = call.get("function") if isinstance(call, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise bad_request(f"{at}.function.name is required", at)
        blocks.append({"type": "tool_use", "id": call.get("id") or f"toolu_{k}", "name": function["name"],
                       "input": arguments_object(function.get("arguments"))})
    return blocks


def _tool_result(message: JSON, where: str) -> JSON:
    tool_call_id = message.get("tool_call_id")
    if not isinstance(tool_call_id, str) or not tool_call_id:
        raise bad_request(f"{where}.tool_call_id is required", f"{where}.tool_call_id")
    content = message.get("content")
    block: JSON = {"type": "tool_result", "tool_use_id": tool_call_id}
    if isinstance(content, str):
        if content:
            block["content"] = content
    else:
        parts = _text_blocks(content, f"{where}.content")
        if parts:
            block["content"] = parts
    return block


def _with_cache_control(block: JSON, part: JSON) -> JSON:
    """Keep a client's prompt-cache breakpoint (the OpenRouter/LiteLLM convention on content parts)."""
    cache_control = part.get("cache_control")
    if isinstance(cache_control, dict):
        block["cache_control"] = cache_control
    return block
