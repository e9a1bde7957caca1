"""StreamRelay over batches: upstream chunks, exact or not, become spec-valid client frames; the
usage and the generated text are kept for settlement; the finish chunk waits for the usage when
the client did not ask for include_usage."""

from __future__ import annotations

import copy
import json
from typing import Any

import msgspec

from farebox.pipeline.relay import StreamRelay
from farebox.protocol.text_chunk import TextChunk
from tests.spec import assert_sse_valid, assert_valid

USAGE = {"prompt_tokens": 9, "completion_tokens": 3, "total_tokens": 12}


def exact(delta: dict[str, Any], finish: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"id": "chatcmpl-up", "object": "chat.completion.chunk", "created": 5, "model": "up-model",
            "system_fingerprint": "fp_1", "choices": [{"index": 0, "delta": delta, "logprobs": None,
                                                       "finish_reason": finish}], **extra}


def relay(include_usage: bool = True) -> StreamRelay:
    return StreamRelay(completion_id="chatcmpl-ours", model="client-model", created=77, include_usage=include_usage)


def frames_of(blob: bytes) -> list[dict[str, Any]]:
    return [json.loads(line[6:]) for line in blob.split(b"\n\n") if line]


def test_an_exact_chunk_only_gets_our_id_model_and_created_in_place() -> None:
    chunk = exact({"content": "hi"})
    blob = relay().frames([copy.deepcopy(chunk)])
    ours = dict(chunk, id="chatcmpl-ours", model="client-model", created=77)
    assert blob == b"data: " + msgspec.json.encode(ours) + b"\n\n"  # same fields, same order


def test_inexact_chunks_are_fixed_to_the_spec() -> None:
    loose: list[dict[str, Any] | TextChunk] = [
        {"choices": [{"delta": {"role": "assistant", "content": "", "refusal": None, "reasoning_content": None}}],
         "system_fingerprint": None, "service_tier": None},
        {"choices": [{"delta": {"content": "x", "tool_calls": []}, "finish_reason": None, "stop_reason": None}]},
        {"choices": [{"index": 0, "delta": {"tool_calls": [{"id": "call_1", "function": {"name": "f",
                                                                                         "arguments": ""}}]}}]},
        {"choices": [{"index": 0, "delta": None, "finish_reason": "eos", "stop_reason": 7}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "max_tokens"}]},
    ]
    blob = relay().frames(loose)
    out = frames_of(blob)
    for frame in out:
        assert_valid(frame, "CreateChatCompletionStreamResponse")
        assert (frame["id"], frame["model"], frame["created"]) == ("chatcmpl-ours", "client-model", 77)
    assert "system_fingerprint" not in out[0] and out[0]["choices"][0]["delta"] == {"role": "assistant",
                                                                                    "content": ""}
    assert out[1]["choices"][0] == {"delta": {"content": "x"}, "finish_reason": None, "index": 0}
    assert out[2]["choices"][0]["delta"]["tool_calls"][0] == {
        "id": "call_1", "function": {"name": "f", "arguments": ""}, "index": 0, "type": "function"}
    assert out[3]["choices"][0]["finish_reason"] == "stop" and out[3]["choices"][0]["stop_reason"] == 7
    assert out[4]["choices"][0]["finish_reason"] == "length"
    assert_sse_valid(blob.decode() + "data: [DONE]\n\n")


def test_usage_is_kept_and_its_chunk_without_choices_sends_nothing() -> None:
    r = relay()
    blob = r.frames([exact({"content": "a"}), exact({}, "stop"), dict(exact({}), choices=[], usage=USAGE)])
    assert [f["choices"][0]["finish_reason"] for f in frames_of(blob)] == [None, "stop"]
    assert r.usage == USAGE
    closing = frames_of(r.closing_frames({"prompt_tokens": 1}))
    assert closing == [{"id": "chatcmpl-ours", "object": "chat.completion.chunk", "created": 77,
                        "model": "client-model", "choices": [], "usage": {"prompt_tokens": 1}}]


def test_without_include_usage_the_finish_chunk_waits_for_the_usage() -> None:
    r = relay(include_usage=False)
    blob = r.frames([exact({"content": "a"}), exact({}, "stop", usage=USAGE)])
    assert [f["choices"][0]["delta"] for f in frames_of(blob)] == [{"content": "a"}]
    closing = frames_of(r.closing_frames(USAGE))
    assert closing[0]["choices"][0]["finish_reason"] == "stop" and closing[0]["usage"] == USAGE


def test_generated_text_covers_content_reasoning_and_tool_calls() -> None:
    r = relay()
    call = {"index": 0, "id": "call_1", "type": "function", "function": {"name": "get", "arguments": "{\"q\""}}
    r.frames([exact({"role": "assistant", "content": ""}), exact({"reasoning_content": "think "}),
              exact({"content": "one "}), exact({"content": "two", "reasoning_content": "more"})])
    r.frames([exact({"tool_calls": [call]}), exact({}, "tool_calls")])
    assert r.generated_text() == "think one twomoreget{\"q\""
