"""Reading a request body: the one place that turns every way a body can fail to arrive or to
decode (too large, too slow, bad compression, an unknown encoding, not JSON) into a 4xx."""

from __future__ import annotations

import asyncio
from typing import Any

import msgspec
from aiohttp import web

from farebox.errors import InvalidRequest, RequestTimeout, RequestTooLarge, UnsupportedMediaType, shown

# What aiohttp's parser decodes itself; anything else would reach us still compressed.
DECODED_ENCODINGS = frozenset({"", "identity", "gzip", "x-gzip", "deflate"})


async def read_raw(request: web.Request, max_bytes: int, timeout: float) -> bytes:
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in DECODED_ENCODINGS:
        raise UnsupportedMediaType(f"Content-Encoding {shown(encoding, 40)!r} is not supported; send the body "
                                   "uncompressed, or gzip or deflate.")
    if request.content_length is not None and request.content_length > max_bytes:
        raise RequestTooLarge(f"The request body is over the {max_bytes} byte limit.")
    try:
        if request.content.is_eof():  # the usual case: the body came with the headers
            return await request.read()
        async with asyncio.timeout(timeout):  # a client stalling mid-body is cut off
            return await request.read()
    except web.HTTPRequestEntityTooLarge:
        raise RequestTooLarge(f"The request body is over the {max_bytes} byte limit.") from None
    except TimeoutError:
        raise RequestTimeout("The request body was not received in time.") from None
    except web.HTTPException:
        raise
    except (web.RequestPayloadError, OSError) as exc:  # bad gzip or deflate, a truncated body
        raise InvalidRequest(f"The request body could not be read ({encoding or 'identity'} encoding): "
                             f"{shown(type(exc).__name__, 40)}.") from None


def decode_json(raw: bytes, decoder: msgspec.json.Decoder[Any]) -> Any:
    try:
        return decoder.decode(raw)
    except (msgspec.DecodeError, RecursionError, UnicodeDecodeError):
        raise InvalidRequest("We could not parse the JSON body of your request. The body must be valid "
                             "JSON (UTF-8).") from None
