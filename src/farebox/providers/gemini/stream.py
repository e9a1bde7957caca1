"""streamGenerateContent?alt=sse events -> OpenAI chat.completion.chunk dicts.

Each SSE event is a partial GenerateContentResponse: text and thought deltas, whole function
calls, and on the last one the finishReason. usageMetadata repeats with running totals; the
last one is the answer's usage, sent once at the end as a `choices: []` chunk.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec

from farebox.protocol.gemini import GenerateContentResponse, UsageMetadata, response_decoder
from farebox.protocol.sse import DONE, SSEEvent
from farebox.providers.base import UpstreamError
from farebox.providers.gemini.errors import classify
from farebox.providers.gemini.response import finish_reason, logprobs, new_id, openai_usage, split_parts

JSON = dict[str, Any]


class _Choice:
    __slots__ = ("finished", "started", "tool_calls")

    def __init__(self) -> None:
        self.started = False  # the first delta carries the role
        self.tool_calls = 0  # next tool-call index; >0 also means finish is "tool_calls"
        self.finished = False


class StreamTranslator:
    """One per stream. `feed` turns one upstream event into chunks; `finish` ends the stream."""

    def __init__(self, model: str) -> None:
        self.id: str | None = None
        self.model = model
        self.created = int(time.time())
        self.choices: dict[int, _Choice] = {}
        self.usage: UsageMetadata | None = None

    def feed(self, resp: GenerateContentResponse) -> Iterator[JSON]:
        if resp.error is not None:
            raise classify(resp.error.code or 500, resp.error)
        if self.id is None:
            self.id = "chatcmpl-" + resp.response_id if resp.response_id else new_id("chatcmpl-")
        if resp.model_version:
            self.model = resp.model_version
        if resp.usage_metadata is not None:
            self.usage = resp.usage_metadata
        block = resp.prompt_feedback.block_reason if resp.prompt_feedback else None
        if block and not resp.candidates:
            state = self.choices.setdefault(0, _Choice())
            state.finished = True
            yield self._chunk(0, {"role": "assistant", "content": ""}, "content_filter")
        for candidate in resp.candidates:
            state = self.choices.setdefault(candidate.index, _Choice())
            text, thoughts, calls = split_parts(candidate.content.parts if candidate.content else [])
            delta: JSON = {}
            if thoughts:
                delta["reasoning_content"] = thoughts
            if text:
                delta["content"] = text
            if calls:
                for call in calls:
                    call["index"] = state.tool_calls
                    state.tool_calls += 1
                delta["tool_calls"] = calls
            lp = logprobs(candidate.logprobs_result)
            if delta or lp or not state.started:
                if not state.started:
                    delta = {"role": "assistant", **delta}
                    state.started = True
                chunk = self._chunk(candidate.index, delta, None)
                chunk["choices"][0]["logprobs"] = lp
                yield chunk
            if candidate.finish_reason:
                state.finished = True
                reason = finish_reason(candidate.finish_reason, state.tool_calls > 0)
                yield self._chunk(candidate.index, {}, reason)

    def finish(self) -> Iterator[JSON]:
        if not self.choices or not all(c.finished for c in self.choices.values()):
            raise UpstreamError(502, "the upstream stream ended before the answer was finished",
                                code="upstream_error", retryable=True)
        if self.usage is not None:
            yield {"id": self.id, "object": "chat.completion.chunk", "created": self.created,
                   "model": self.model, "choices": [], "usage": openai_usage(self.usage)}

    def _chunk(self, index: int, delta: JSON, reason: str | None) -> JSON:
        return {
            "id": self.id,
            "object": "chat.completion.chunk",
            "created": self.created,
            "model": self.model,
            "choices": [{"index": index, "delta": delta, "logprobs": None, "finish_reason": reason}],
        }


async def translate_stream(events: AsyncIterator[SSEEvent], model: str) -> AsyncIterator[JSON]:
    translator = StreamTranslator(model)
    async for event in events:
        if not event.data.strip() or event.data == DONE:
            continue
        try:
            resp = response_decoder.decode(event.data)
        except msgspec.DecodeError:
            raise UpstreamError(502, "the upstream sent a malformed stream event",
                                code="upstream_error", retryable=True) from None
        for chunk in translator.feed(resp):
            yield chunk
    for chunk in translator.finish():
        yield chunk
