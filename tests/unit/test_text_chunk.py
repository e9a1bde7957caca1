"""The streaming fast path: a text-only chunk already in OpenAI's exact shape is relayed as bytes,
and must come out exactly as the general path (decode, normalise, encode) would send it; every
other chunk must be left to the general path."""

from __future__ import annotations

import copy
import json
from typing import Any

import msgspec
import pytest

from farebox.pipeline.relay import StreamRelay
from farebox.protocol.text_chunk import match_text_chunk
from tests.spec import assert_valid

TEXTS = ["Hello", "", " there", 'say "hi"', "back\\slash", "line\nbreak", "tab\t", "é ü 漢字", "emoji 🎉",
         "</script>", "\u2028"]


def chunk(delta: dict[str, Any], *, finish: str | None = None, logprobs: bool = True, **extra: Any) -> dict[str, Any]:
    choice: dict[str, Any] = {"index": 0, "delta": delta}
    if logprobs:
        choice["logprobs"] = None
    choice["finish_reason"] = finish
    head = {"id": "chatcmpl-up-1", "object": "chat.completion.chunk", "created": 1700000000, "model": "gpt-x"}
    before = {k: v for k, v in extra.items() if k in ("system_fingerprint", "service_tier")}
    after = {k: v for k, v in extra.items() if k not in before}
    return {**head, **before, "choices": [choice], **after}


def compact(doc: dict[str, Any], *, ascii_only: bool = False) -> bytes:
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=ascii_only).encode()


def relay() -> StreamRelay:
    return StreamRelay(completion_id="chatcmpl-ours", model="client/model", created=77, include_usage=True)


SHAPES = [
    {},
    {"system_fingerprint": "fp_1"},
    {"service_tier": "default", "system_fingerprint": "fp_1"},
    {"usage": None},
    {"system_fingerprint": "fp_1", "usage": None, "obfuscation": "abc"},
]


@pytest.mark.parametrize("ascii_only", [False, True])
@pytest.mark.parametrize("extra", SHAPES)
@pytest.mark.parametrize("role", [False, True])
def test_fast_path_sends_what_the_general_path_sends(extra: dict[str, Any], role: bool, ascii_only: bool) -> None:
    for logprobs in (True, False):
        for text in TEXTS:
            delta = {"role": "assistant", "content": text} if role else {"content": text}
            raw = compact(chunk(delta, logprobs=logprobs, **extra), ascii_only=ascii_only)
            fast = match_text_chunk(raw)
            assert fast is not None, raw
            general, quick = relay(), relay()
            expected = general.frames([msgspec.json.decode(raw)])
            got = quick.frames([fast])
            assert msgspec.json.decode(got[6:]) == msgspec.json.decode(expected[6:])
            assert list(json.loads(got[6:])) == list(json.loads(expected[6:]))  # same field order
            assert quick.generated_text() == general.generated_text() == text
            assert_valid(json.loads(got[6:]), "CreateChatCompletionStreamResponse")


@pytest.mark.parametrize("doc", [
    chunk({"content": "x"}, finish="stop"),  # a finish_reason: held or counted by the general path
    chunk({"content": None}),
    chunk({"role": "assistant", "content": "", "refusal": None}),
    chunk({"reasoning_content": "hmm"}),
    chunk({"tool_calls": [{"index": 0, "function": {"arguments": "{}"}}]}),
    chunk({"content": "x"}, usage={"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2}),
    chunk({"content": "x"}, system_fingerprint=None),
    chunk({"content": "x"}, something_new=1),
    {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m", "choices": []},
    {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m",
     "choices": [{"index": 0, "delta": {"content": "a"}, "finish_reason": None},
                 {"index": 1, "delta": {"content": "b"}, "finish_reason": None}]},
])
def test_anything_else_takes_the_general_path(doc: dict[str, Any]) -> None:
    assert match_text_chunk(compact(doc)) is None


def test_json_with_spaces_or_in_another_order_takes_the_general_path() -> None:
    doc = chunk({"content": "x"})
    assert match_text_chunk(compact(doc)) is not None
    assert match_text_chunk(json.dumps(doc).encode()) is None
    reordered = {"object": doc["object"], **{k: v for k, v in doc.items() if k != "object"}}
    assert match_text_chunk(compact(reordered)) is None
    assert match_text_chunk(compact(doc)[:-1]) is None  # cut short


def test_a_stream_mixing_both_paths_keeps_order_and_text() -> None:
    docs = [chunk({"role": "assistant", "content": "", "refusal": None}), chunk({"content": "Hel"}),
            chunk({"reasoning_content": "think"}), chunk({"content": 'lo "you"'})]
    general, quick = relay(), relay()
    expected = general.frames([copy.deepcopy(d) for d in docs])
    items = [match_text_chunk(compact(d)) or msgspec.json.decode(compact(d)) for d in docs]
    assert sum(1 for i in items if isinstance(i, tuple)) == 2
    got = quick.frames(items)
    assert [json.loads(f[6:]) for f in got.split(b"\n\n") if f] == \
        [json.loads(f[6:]) for f in expected.split(b"\n\n") if f]
    assert quick.generated_text() == general.generated_text() == 'Helthinklo "you"'


def _parser_batches(raws: list[bytes]) -> tuple[list[Any], Any]:
    from farebox.config import ProviderConfig
    from farebox.protocol.sse import SSEEvent
    from farebox.providers.openai_compat import OpenAICompatProvider

    p = OpenAICompatProvider("up", ProviderConfig(kind="openai", base_url="http://10.0.0.5/v1"))
    parser = p.stream_parser(None, text_chunks=True)  # type: ignore[arg-type]
    return parser.feed([SSEEvent(raw) for raw in raws]), parser


def test_the_fast_path_is_dropped_for_an_upstream_whose_chunks_never_have_the_shape() -> None:
    spaced = [json.dumps(chunk({"content": f"w{i}"})).encode() for i in range(20)]  # spaces: never matches
    items, parser = _parser_batches(spaced)
    assert all(isinstance(i, dict) for i in items) and len(items) == 20
    assert parser._text_chunks is False  # gave up: no more double work per chunk


def test_the_fast_path_stays_once_it_has_matched() -> None:
    others = [compact(chunk({"reasoning_content": f"r{i}"})) for i in range(12)]
    texts = [compact(chunk({"content": f"w{i}"})) for i in range(3)]
    items, parser = _parser_batches(texts[:1] + others + texts[1:])
    assert [isinstance(i, tuple) for i in items] == [True] + [False] * 12 + [True, True]
    assert parser._text_chunks is True
