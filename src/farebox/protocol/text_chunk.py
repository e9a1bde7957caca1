"""The streaming fast path: recognise the common chunk that is already exactly OpenAI's shape and
only carries text, and relay it as bytes.

Most chunks of a stream from an OpenAI-compatible server (OpenAI, vLLM, llama.cpp, ... all send
compact JSON) look like

    {"id":"…","object":"chat.completion.chunk","created":1,"model":"…",["system_fingerprint":"…",]
     "choices":[{"index":0,"delta":{"content":"Hello"},"logprobs":null,"finish_reason":null}]
     [,"usage":null][,"obfuscation":"…"]}

Decoding, normalising and re-encoding such a chunk only ever changes its head (id, created,
model: ours) and drops `"usage":null`. So: the head is matched in place (a short anchored
pattern), the whole chunk is decoded into a struct that admits nothing but this shape (msgspec,
unknown fields forbidden: ~1 us), and the relay writes our head followed by the upstream's own
bytes. Anything else (a role with other fields, tool calls, reasoning, a finish_reason, usage,
nulls where strings belong, JSON with spaces) fails the match or the decode and takes the
general path, which is always correct.
"""

from __future__ import annotations

import re
from typing import Literal, NamedTuple

import msgspec

_HEAD = re.compile(rb'\{"id":"[^"\\]*","object":"chat\.completion\.chunk","created":\d+,"model":"[^"\\]*"')
_USAGE_NULL = b',"usage":null'  # outside strings a quote is never escaped, so this is the field


class _Delta(msgspec.Struct, forbid_unknown_fields=True):
    content: str
    role: Literal["assistant"] = "assistant"


class _Choice(msgspec.Struct, forbid_unknown_fields=True):
    index: Literal[0]
    delta: _Delta
    finish_reason: None
    logprobs: None = None


class _Shape(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    object: str
    created: int
    model: str
    choices: tuple[_Choice]  # exactly one
    system_fingerprint: str = ""
    service_tier: str = ""
    obfuscation: str = ""
    usage: None | msgspec.UnsetType = msgspec.UNSET


_decode_shape = msgspec.json.Decoder(_Shape).decode


class TextChunk(NamedTuple):
    """A chunk of that shape: `body` is everything after the head, up to and without the closing
    brace (less any `"usage":null`); `text` is its content."""

    body: bytes
    text: str


def match_text_chunk(data: bytes) -> TextChunk | None:
    head = _HEAD.match(data)
    if head is None:
        return None
    try:
        shape = _decode_shape(data)
    except msgspec.DecodeError:  # another shape (or not JSON: the general path says so)
        return None
    body = data[head.end():-1]
    if shape.usage is None:
        body = body.replace(_USAGE_NULL, b"", 1)
    return TextChunk(body, shape.choices[0].delta.content)


def head_bytes(*, id: str, model: str, created: int) -> bytes:
    """Our head for a stream's text chunks, in the upstream's field order (which the general
    path keeps too, as it rewrites the fields in place)."""
    return b'{"id":' + msgspec.json.encode(id) + b',"object":"chat.completion.chunk","created":' \
        + str(created).encode() + b',"model":' + msgspec.json.encode(model)
