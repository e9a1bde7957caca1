"""A scriptable fake OpenAI-compatible upstream (the wire format vLLM, DeepSeek, OpenRouter and
OpenAI speak). Tests set `fake.default` or queue per-request `Script`s, and read `fake.requests`."""

from __future__ import annotations

import asyncio
import json
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Self

from aiohttp import web

from tests.support.threaded import ThreadedServer


@dataclass
class Script:
    text: str = "Hello from the fake upstream."
    status: int = 200
    error_body: dict[str, Any] | str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    prompt_tokens: int = 11
    completion_tokens: int = 7
    cached_tokens: int = 0
    cache_write_tokens: int = 0  # Anthropic-style cache creation, as prompt_tokens_details.cache_write_tokens
    reasoning_tokens: int = 0
    reasoning: str | None = None  # reasoning_content
    tool_calls: list[dict[str, Any]] | None = None
    logprobs: bool = False
    send_usage: bool = True
    finish_reason: str = "stop"
    latency: float = 0.0  # before the headers
    chunk_delay: float = 0.0
    hang: float = 0.0  # sleep this long before answering (a hung upstream)
    hang_after_chunks: int | None = None  # stream: stall after this many chunks
    cut_after_chunks: int | None = None  # stream: drop the connection after this many chunks
    end_after_chunks: int | None = None  # stream: end cleanly after this many chunks, without [DONE]
    omit_done: bool = False  # stream: send every chunk but no [DONE]
    end_gap: float = 0.0  # stream: pause between [DONE] and the end of the HTTP body (a separate packet)
    drop_connection: bool = False  # close the socket without an answer
    malformed: bool = False  # a body / event that is not JSON
    omit_nulls: bool = False  # leave out logprobs/refusal/finish_reason nulls, like minimal servers
    usage_override: dict[str, Any] | None = None  # a provider's own usage shape (DeepSeek's cache fields)
    usage_on_finish: bool = False  # stream: usage on the finish_reason chunk, asked or not (llama.cpp)
    extra: dict[str, Any] = field(default_factory=dict)  # top-level extras on the reply / last chunk


class FakeOpenAI:
    def __init__(self) -> None:
        self.default = Script()
        self.queue: deque[Script] = deque()
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        self.peers: list[object] = []  # each request's client address: one per upstream connection
        self.disconnects = 0  # streams the gateway closed before the end (client went away)
        self.models_doc: dict[str, Any] | None = None  # e.g. an OpenRouter-shaped list with pricing
        self.models_status = 200
        self.models_headers: list[dict[str, str]] = []
        app = web.Application(client_max_size=64 * 1024 * 1024)  # takes what a gateway forwards
        app.router.add_post("/v1/chat/completions", self._chat)
        app.router.add_get("/v1/models", self._models)
        self.server = ThreadedServer(app)

    @property
    def base_url(self) -> str:
        return f"{self.server.url}/v1"

    def start(self) -> Self:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def push(self, *scripts: Script) -> None:
        self.queue.extend(scripts)

    async def _models(self, request: web.Request) -> web.Response:
        self.models_headers.append(dict(request.headers))
        if self.models_status != 200:
            return web.json_response({"error": {"message": "scripted failure", "code": self.models_status}},
                                     status=self.models_status)
        if self.models_doc is not None:
            return web.json_response(self.models_doc)
        return web.json_response({"object": "list", "data": [{"id": "fake-model", "object": "model",
                                                              "created": 0, "owned_by": "fake"}]})

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        body = await request.json()
        self.peers.append(request.transport.get_extra_info("peername") if request.transport else None)
        self.requests.append(body)
        self.headers.append(dict(request.headers))
        script = self.queue.popleft() if self.queue else self.default
        if script.hang:
            await asyncio.sleep(script.hang)
        if script.drop_connection:
            assert request.transport is not None
            request.transport.close()
            return web.Response()
        if script.latency:
            await asyncio.sleep(script.latency)
        if script.status >= 300:
            error = script.error_body or {"error": {"message": f"scripted failure {script.status}",
                                                    "type": "server_error", "param": None, "code": None}}
            text = error if isinstance(error, str) else json.dumps(error)
            return web.Response(status=script.status, text=text, content_type="application/json",
                                headers=script.headers)
        if body.get("stream"):
            return await self._stream(request, body, script)
        if script.malformed:
            return web.Response(text="{not json", content_type="application/json")
        return web.json_response(self._completion(body, script), headers=script.headers)

    def _usage(self, script: Script) -> dict[str, Any]:
        if script.usage_override is not None:
            return dict(script.usage_override)
        details: dict[str, int] = {"cached_tokens": script.cached_tokens}
        if script.cache_write_tokens:
            details["cache_write_tokens"] = script.cache_write_tokens
        return {"prompt_tokens": script.prompt_tokens, "completion_tokens": script.completion_tokens,
                "total_tokens": script.prompt_tokens + script.completion_tokens,
                "prompt_tokens_details": details,
                "completion_tokens_details": {"reasoning_tokens": script.reasoning_tokens}}

    def _completion(self, body: dict[str, Any], script: Script) -> dict[str, Any]:
        message: dict[str, Any] = {"role": "assistant", "content": None if script.tool_calls else script.text}
        if not script.omit_nulls:
            message["refusal"] = None
        if script.tool_calls:
            message["tool_calls"] = script.tool_calls
        if script.reasoning:
            message["reasoning_content"] = script.reasoning
        choice: dict[str, Any] = {"index": 0, "message": message, "finish_reason": script.finish_reason}
        if script.logprobs:
            choice["logprobs"] = {"content": [{"token": "Hello", "logprob": -0.1, "bytes": [72, 101, 108, 108, 111],
                                               "top_logprobs": []}], "refusal": None}
        elif not script.omit_nulls:
            choice["logprobs"] = None
        doc: dict[str, Any] = {"id": "chatcmpl-upstream", "object": "chat.completion", "created": int(time.time()),
                               "model": body.get("model"), "choices": [choice], "system_fingerprint": None}
        if script.send_usage:
            doc["usage"] = self._usage(script)
        doc.update(script.extra)
        return doc

    async def _stream(self, request: web.Request, body: dict[str, Any], script: Script) -> web.StreamResponse:
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream", **script.headers})
        await response.prepare(request)
        created = int(time.time())

        def chunk(delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
            choice: dict[str, Any] = {"index": 0, "delta": delta}
            if not script.omit_nulls or finish:
                choice["finish_reason"] = finish
            return {"id": "chatcmpl-upstream", "object": "chat.completion.chunk", "created": created,
                    "model": body.get("model"), "choices": [choice]}

        events: list[dict[str, Any] | str] = [chunk({"role": "assistant", "content": ""})]
        if script.reasoning:
            events.append(chunk({"reasoning_content": script.reasoning}))
        if script.tool_calls:
            for i, call in enumerate(script.tool_calls):
                start = {"index": i, "id": call["id"], "type": "function",
                         "function": {"name": call["function"]["name"], "arguments": ""}}
                events.append(chunk({"tool_calls": [start]}))
                events.append(chunk({"tool_calls": [{"index": i, "function": {
                    "arguments": call["function"]["arguments"]}}]}))
        else:
            for word in script.text.split(" "):
                events.append(chunk({"content": word + " "}))
        if script.malformed:
            events.append("{not json")
        last = chunk({}, script.finish_reason)
        last.update(script.extra)
        events.append(last)
        include_usage = (body.get("stream_options") or {}).get("include_usage")
        if script.send_usage and script.usage_on_finish:
            last["usage"] = self._usage(script)
        elif script.send_usage and include_usage:
            final = chunk({})
            final["choices"] = []
            final["usage"] = self._usage(script)
            events.append(final)
        try:
            await self._send(request, response, events, script)
        except (ConnectionResetError, asyncio.CancelledError):
            self.disconnects += 1
            raise
        return response

    async def _send(self, request: web.Request, response: web.StreamResponse, events: list[dict[str, Any] | str],
                    script: Script) -> None:
        for i, event in enumerate(events):
            if script.cut_after_chunks is not None and i >= script.cut_after_chunks:
                assert request.transport is not None
                request.transport.close()
                return
            if script.end_after_chunks is not None and i >= script.end_after_chunks:
                await response.write_eof()
                return
            if script.hang_after_chunks is not None and i >= script.hang_after_chunks:
                await asyncio.sleep(3600)
            if script.chunk_delay:
                await asyncio.sleep(script.chunk_delay)
            data = event if isinstance(event, str) else json.dumps(event, separators=(",", ":"))  # as real servers
            await response.write(f"data: {data}\n\n".encode())
        if not script.omit_done:
            await response.write(b"data: [DONE]\n\n")
        if script.end_gap:
            await asyncio.sleep(script.end_gap)
        await response.write_eof()
