"""A realistic-latency OpenAI upstream: 50 ms before the headers, stream chunks 20 ms apart.

nginx cannot pace a body, so this small aiohttp server does. It answers POST
/v1/chat/completions with the canned completion: JSON after the first-byte delay, or, when
the body asks for "stream": true, the canned SSE events with the chunk delay between them.

    python bench/slow_upstream.py --port 8083 [--first-byte-ms 50] [--chunk-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json

import canned
from aiohttp import web

FIRST_BYTE = web.AppKey("first_byte", float)
CHUNK_GAP = web.AppKey("chunk_gap", float)

_JSON = canned.completion_json()
_EVENTS = canned.stream_events()
_CHUNKS, _TAIL = _EVENTS[: canned.CHUNK_EVENTS], b"".join(_EVENTS[canned.CHUNK_EVENTS :])


async def chat(request: web.Request) -> web.StreamResponse:
    body = json.loads(await request.read())
    await asyncio.sleep(request.app[FIRST_BYTE])
    if not body.get("stream"):
        return web.Response(body=_JSON, content_type="application/json")
    out = web.StreamResponse(headers={"Content-Type": "text/event-stream", "Cache-Control": "no-cache"})
    await out.prepare(request)
    gap = request.app[CHUNK_GAP]
    for i, chunk in enumerate(_CHUNKS):
        if i:
            await asyncio.sleep(gap)
        await out.write(chunk)
    # The usage chunk and [DONE] follow the finish chunk at once, as OpenAI sends them.
    await out.write(_TAIL)
    await out.write_eof()
    return out


async def models(request: web.Request) -> web.Response:
    return web.Response(body=canned.models_json(), content_type="application/json")


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--first-byte-ms", type=float, default=50.0)
    parser.add_argument("--chunk-ms", type=float, default=20.0)
    args = parser.parse_args()
    app = web.Application(client_max_size=64 * 1024 * 1024)  # a gateway may forward large bodies
    app[FIRST_BYTE] = args.first_byte_ms / 1000
    app[CHUNK_GAP] = args.chunk_ms / 1000
    app.router.add_post("/v1/chat/completions", chat)
    app.router.add_get("/v1/models", models)
    app.router.add_get("/health", health)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None, backlog=4096)


if __name__ == "__main__":
    main()
