"""A scriptable fake of the Gemini API (generativelanguage v1beta) on 127.0.0.1.

It serves the real paths (POST /v1beta/models/{model}:generateContent and
:streamGenerateContent?alt=sse), checks what the real API checks (the x-goog-api-key header,
known top-level and generationConfig fields, non-empty contents and parts, schema keys Gemini
rejects), answers in Gemini's wire format from a script of `Reply`s, and records every request.

    base_url, fake = await start_fake_gemini([Reply(text="hi")])
    ...  # point a `kind: gemini` provider at base_url with api_key=fake.api_key
    fake.requests[0].json["contents"]  # what the adapter sent
    await fake.close()
"""

from __future__ import annotations

import asyncio
import json
import re
import secrets
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

API_KEY = "test-gemini-key"
_PATH = re.compile(r"^/v1beta/(models|tunedModels)/([^/:]+):(generateContent|streamGenerateContent)$")
_TOP_LEVEL = {
    "contents",
    "systemInstruction",
    "tools",
    "toolConfig",
    "generationConfig",
    "safetySettings",
    "cachedContent",
}
_GENERATION = {
    "temperature",
    "topP",
    "topK",
    "seed",
    "presencePenalty",
    "frequencyPenalty",
    "candidateCount",
    "maxOutputTokens",
    "stopSequences",
    "responseMimeType",
    "responseSchema",
    "responseLogprobs",
    "logprobs",
    "thinkingConfig",
}
_PART_DATA = {"text", "inlineData", "fileData", "functionCall", "functionResponse"}
_SCHEMA_KEYS = {
    "type",
    "format",
    "title",
    "description",
    "nullable",
    "enum",
    "items",
    "minItems",
    "maxItems",
    "properties",
    "required",
    "propertyOrdering",
    "anyOf",
    "minimum",
    "maximum",
    "minLength",
    "maxLength",
    "pattern",
    "minProperties",
    "maxProperties",
    "example",
    "default",
}


@dataclass
class Reply:
    """One scripted answer. Token counts default to rough word counts."""

    text: str = "Hello from the fake Gemini."
    thoughts: str = ""
    tool_calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    signature: str | None = None  # thoughtSignature on the first function call
    finish_reason: str = "STOP"
    prompt_tokens: int = 12
    cached_tokens: int = 0
    block_reason: str | None = None  # blocks the prompt: no candidates at all
    status: int = 200  # non-200: answer `error` (Gemini envelope) with this HTTP status
    error: dict[str, Any] | None = None
    stream_error: dict[str, Any] | None = None  # sent as an SSE event after the first content event
    latency: float = 0.0  # seconds before answering
    chunk_delay: float = 0.0  # seconds between SSE events
    chunk_words: int = 2  # words per streamed text event


@dataclass
class Recorded:
    model: str
    method: str
    query: dict[str, str]
    headers: dict[str, str]
    json: dict[str, Any]


class FakeGemini:
    def __init__(self, script: list[Reply] | None = None, api_key: str = API_KEY) -> None:
        self.script = list(script or [])
        self.api_key = api_key
        self.requests: list[Recorded] = []
        self.runner: web.AppRunner | None = None

    def push(self, *replies: Reply) -> None:
        self.script.extend(replies)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        return app

    async def close(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        match = _PATH.match(request.path)
        if not match:
            return _error(404, "NOT_FOUND", f"Path {request.path} not found.")
        if "key" in request.query:
            return _error(
                400, "INVALID_ARGUMENT", "fake: the API key must travel in x-goog-api-key, not the URL"
            )
        key = request.headers.get("x-goog-api-key")
        if key is None:
            return _error(403, "PERMISSION_DENIED", "Method doesn't allow unregistered callers.")
        if key != self.api_key:
            return _error(
                400,
                "INVALID_ARGUMENT",
                "API key not valid. Please pass a valid API key.",
                [{"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}],
            )
        try:
            body = await request.json()
        except ValueError:
            return _error(400, "INVALID_ARGUMENT", "Invalid JSON payload received.")
        self.requests.append(
            Recorded(match.group(2), match.group(3), dict(request.query), dict(request.headers), body)
        )
        problem = check_request(body)
        if problem:
            return _error(400, "INVALID_ARGUMENT", problem)
        reply = self.script.pop(0) if self.script else Reply()
        if reply.latency:
            await asyncio.sleep(reply.latency)
        if reply.status != 200:
            envelope = reply.error or {
                "code": reply.status,
                "message": "scripted failure",
                "status": "INTERNAL",
            }
            return web.json_response({"error": envelope}, status=reply.status)
        model = match.group(2)
        if match.group(3) == "generateContent":
            return web.json_response(full_response(reply, model))
        if request.query.get("alt") != "sse":  # the real API then streams one JSON array
            return web.json_response(stream_events(reply, model))
        return await self._stream(request, reply, model)

    async def _stream(self, request: web.Request, reply: Reply, model: str) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        for i, event in enumerate(stream_events(reply, model)):
            if i and reply.chunk_delay:
                await asyncio.sleep(reply.chunk_delay)
            await response.write(b"data: " + json.dumps(event).encode() + b"\r\n\r\n")
            if i == 0 and reply.stream_error is not None:
                await response.write(
                    b"data: " + json.dumps({"error": reply.stream_error}).encode() + b"\r\n\r\n"
                )
                break
        await response.write_eof()
        return response


async def start_fake_gemini(
    script: list[Reply] | None = None, api_key: str = API_KEY
) -> tuple[str, FakeGemini]:
    """Start a fake on 127.0.0.1 (a free port); returns (base_url, fake). Stop it with fake.close()."""
    fake = FakeGemini(script, api_key)
    fake.runner = web.AppRunner(fake.app())
    await fake.runner.setup()
    site = web.TCPSite(fake.runner, "127.0.0.1", 0)
    await site.start()
    host, port = fake.runner.addresses[0][:2]
    return f"http://{host}:{port}", fake


# -- request checks (what the real API answers 400 to) ----------------------------------------


def check_request(body: Any) -> str | None:
    if not isinstance(body, dict):
        return "Invalid JSON payload received. Expected an object."
    unknown = set(body) - _TOP_LEVEL
    if unknown:
        return _unknown(sorted(unknown)[0], "request")
    contents = body.get("contents")
    if not contents:
        return "* GenerateContentRequest.contents: contents is not specified"
    for i, content in enumerate(contents):
        if content.get("role") not in ("user", "model"):
            return f"Please use a valid role: user, model. (contents[{i}])"
        if not content.get("parts"):
            return f"* GenerateContentRequest.contents[{i}].parts: contents.parts must not be empty."
        for part in content["parts"]:
            if len(_PART_DATA & set(part)) != 1:
                return f"* contents[{i}].parts: required oneof field 'data' must have one initialized field"
    unknown = set(body.get("generationConfig", {})) - _GENERATION
    if unknown:
        return _unknown(sorted(unknown)[0], "generation_config")
    for tool in body.get("tools", []):
        for decl in tool.get("functionDeclarations", []):
            bad = _bad_schema_key(decl.get("parameters", {}))
            if bad:
                return _unknown(bad, "tools[0].function_declarations")
    bad = _bad_schema_key(body.get("generationConfig", {}).get("responseSchema", {}))
    return _unknown(bad, "generation_config.response_schema") if bad else None


def _children(key: str, value: Any) -> list[Any]:
    if key == "properties" and isinstance(value, dict):
        return list(value.values())
    if key == "anyOf" and isinstance(value, list):
        return value
    return [value] if key == "items" else []


def _unknown(name: str, where: str) -> str:
    return f"Invalid JSON payload received. Unknown name \"{name}\" at '{where}': Cannot find field."


def _bad_schema_key(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return None
    for key, value in schema.items():
        if key not in _SCHEMA_KEYS:
            return str(key)
        if key == "type" and not isinstance(value, str):
            return "type (must be a string)"
        for child in _children(key, value):
            bad = _bad_schema_key(child)
            if bad:
                return bad
    return None


# -- answers ----------------------------------------------------------------------------------


def _words(text: str) -> int:
    return len(text.split())


def _usage(reply: Reply, candidates: int, thoughts: int) -> dict[str, Any]:
    usage: dict[str, Any] = {
        "promptTokenCount": reply.prompt_tokens,
        "totalTokenCount": reply.prompt_tokens + candidates + thoughts,
    }
    if candidates:
        usage["candidatesTokenCount"] = candidates
    if thoughts:
        usage["thoughtsTokenCount"] = thoughts
    if reply.cached_tokens:
        usage["cachedContentTokenCount"] = reply.cached_tokens
    return usage


def _call_parts(reply: Reply) -> list[dict[str, Any]]:
    parts: list[dict[str, Any]] = []
    for i, (name, args) in enumerate(reply.tool_calls):
        part: dict[str, Any] = {"functionCall": {"name": name, "args": args}}
        if i == 0 and reply.signature:
            part["thoughtSignature"] = reply.signature
        parts.append(part)
    return parts


def _envelope(
    model: str,
    candidates: list[dict[str, Any]] | None,
    usage: dict[str, Any],
    block_reason: str | None = None,
) -> dict[str, Any]:
    out: dict[str, Any] = {
        "usageMetadata": usage,
        "modelVersion": model,
    }
    if candidates is not None:
        out["candidates"] = candidates
    if block_reason:
        out["promptFeedback"] = {"blockReason": block_reason}
    return out


def full_response(reply: Reply, model: str) -> dict[str, Any]:
    return {**_full_response(reply, model), "responseId": secrets.token_urlsafe(16)}


def stream_events(reply: Reply, model: str) -> list[dict[str, Any]]:
    """The SSE events the real API would send: thoughts, then text in small pieces, then the
    function calls whole, the finishReason on the last; running usage and one responseId on all."""
    response_id = secrets.token_urlsafe(16)
    return [{**event, "responseId": response_id} for event in _stream_events(reply, model)]


def _full_response(reply: Reply, model: str) -> dict[str, Any]:
    if reply.block_reason:
        return _envelope(model, None, _usage(reply, 0, 0), reply.block_reason)
    parts: list[dict[str, Any]] = []
    if reply.thoughts:
        parts.append({"text": reply.thoughts, "thought": True})
    if reply.text:
        parts.append({"text": reply.text})
    parts += _call_parts(reply)
    candidate = {
        "content": {"role": "model", "parts": parts},
        "finishReason": reply.finish_reason,
        "index": 0,
    }
    candidates = _words(reply.text) + 5 * len(reply.tool_calls)
    return _envelope(model, [candidate], _usage(reply, candidates, _words(reply.thoughts)))


def _stream_events(reply: Reply, model: str) -> list[dict[str, Any]]:
    if reply.block_reason:
        return [_envelope(model, None, _usage(reply, 0, 0), reply.block_reason)]
    pieces: list[dict[str, Any]] = []
    if reply.thoughts:
        pieces.append({"text": reply.thoughts, "thought": True})
    words = reply.text.split(" ") if reply.text else []
    for i in range(0, len(words), reply.chunk_words):
        chunk = " ".join(words[i : i + reply.chunk_words])
        pieces.append({"text": chunk if i == 0 else " " + chunk})
    calls = _call_parts(reply)
    thoughts = _words(reply.thoughts)
    events: list[dict[str, Any]] = []
    seen = 0
    for piece in pieces:
        if not piece.get("thought"):
            seen += _words(piece["text"])
        candidate = {"content": {"role": "model", "parts": [piece]}, "index": 0}
        events.append(_envelope(model, [candidate], _usage(reply, seen, thoughts)))
    last_parts = calls or [{"text": ""}]
    final = {
        "content": {"role": "model", "parts": last_parts},
        "finishReason": reply.finish_reason,
        "index": 0,
    }
    events.append(_envelope(model, [final], _usage(reply, seen + 5 * len(calls), thoughts)))
    return events


def _error(status: int, grpc: str, message: str, details: list[dict[str, Any]] | None = None) -> web.Response:
    error: dict[str, Any] = {"code": status, "message": message, "status": grpc}
    if details:
        error["details"] = details
    return web.json_response({"error": error}, status=status)
