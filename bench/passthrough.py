"""The in-run baseline: a bare aiohttp pass-through (no auth, no parsing, no billing).

One aiohttp server, one pooled aiohttp ClientSession; every request's body goes to the
upstream as is and the answer comes back as bytes (streamed as they arrive for SSE).
It is what farebox would cost if it did nothing of its own.

    python bench/passthrough.py --port 9000 --upstream http://127.0.0.1:8081
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator

import aiohttp
from aiohttp import web

UPSTREAM = web.AppKey("upstream", str)
SESSION = web.AppKey("session", aiohttp.ClientSession)


async def _session(app: web.Application) -> AsyncIterator[None]:
    connector = aiohttp.TCPConnector(limit=0, keepalive_timeout=300)
    app[SESSION] = aiohttp.ClientSession(connector=connector, auto_decompress=False)
    yield
    await app[SESSION].close()


async def relay(request: web.Request) -> web.StreamResponse:
    body = await request.read()
    headers = {"Content-Type": request.headers.get("Content-Type", "application/json")}
    url = request.app[UPSTREAM] + request.path_qs
    async with request.app[SESSION].request(request.method, url, data=body, headers=headers) as up:
        content_type = up.headers.get("Content-Type", "application/octet-stream")
        if content_type.startswith("text/event-stream"):
            out = web.StreamResponse(status=up.status, headers={"Content-Type": content_type})
            await out.prepare(request)
            async for data in up.content.iter_any():
                await out.write(data)
            await out.write_eof()
            return out
        return web.Response(status=up.status, body=await up.read(), headers={"Content-Type": content_type})


async def health(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True, help="upstream origin, e.g. http://127.0.0.1:8081")
    args = parser.parse_args()
    app = web.Application()
    app[UPSTREAM] = args.upstream.rstrip("/")
    app.cleanup_ctx.append(_session)
    app.router.add_get("/health", health)
    app.router.add_route("*", "/v1/{tail:.*}", relay)
    web.run_app(app, host="127.0.0.1", port=args.port, access_log=None, print=None, backlog=4096)


if __name__ == "__main__":
    main()
