"""The HTTP server around the app: how long a connection may take to send its request, and how
many connections one process (and one client address) may hold. These bound what a slow or
greedy client can take from everyone else; a reverse proxy in front is still the place for
TLS and per-client fairness at scale (docs/security.md)."""

from __future__ import annotations

import asyncio
import logging
import re
from collections import Counter
from typing import Any

import msgspec
from aiohttp import web
from aiohttp.web_protocol import RequestHandler

from farebox.config import Config
from farebox.errors import GatewayError, InternalError, InvalidRequest, RequestTooLarge, ServiceUnavailable, envelope

log = logging.getLogger("farebox.server")

_BUSY = ServiceUnavailable("Too many connections; retry shortly.")
_BUSY_BODY = msgspec.json.encode(envelope(_BUSY))
BUSY_RESPONSE = (b"HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/json\r\nRetry-After: 1\r\n"
                 b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(_BUSY_BODY)) + _BUSY_BODY


class ConnectionGuard:
    """Counts a server's connections, in total and per client address; one over either cap is
    answered 503 and closed at once, before it costs a request's work."""

    def __init__(self, server: web.Server, *, max_connections: int, max_per_address: int) -> None:
        self.max_connections = max_connections
        self.max_per_address = max_per_address
        self.total = 0
        self.per_address: Counter[str] = Counter()
        self._addresses: dict[RequestHandler, str] = {}
        self._made, self._lost = server.connection_made, server.connection_lost
        # The handler calls these on its manager; wrapping the instance's methods keeps aiohttp's
        # own bookkeeping (graceful shutdown closes every connection it knows) unchanged.
        server.connection_made = self.connection_made  # type: ignore[method-assign]
        server.connection_lost = self.connection_lost  # type: ignore[method-assign]

    def connection_made(self, handler: RequestHandler, transport: asyncio.Transport) -> None:
        self._made(handler, transport)
        peer = transport.get_extra_info("peername")
        address = str(peer[0]) if isinstance(peer, tuple) and peer else ""
        self._addresses[handler] = address
        self.total += 1
        self.per_address[address] += 1
        over_address = 0 < self.max_per_address < self.per_address[address]
        if self.total > self.max_connections or over_address:
            log.warning("connection refused: %d open, %d from %s", self.total, self.per_address[address], address)
            transport.write(BUSY_RESPONSE)
            handler.force_close()
            transport.close()

    def connection_lost(self, handler: RequestHandler, exc: BaseException | None = None) -> None:
        address = self._addresses.pop(handler, None)
        if address is not None:
            self.total -= 1
            self.per_address[address] -= 1
            if self.per_address[address] <= 0:
                del self.per_address[address]
        self._lost(handler, exc)


_PLAIN_WORDS = re.compile(r"[A-Za-z0-9 ,\-]*")  # aiohttp's text before it quotes the client's bytes


class EnvelopeRequestHandler(RequestHandler):
    """aiohttp answers what its HTTP parser refuses (a 64 KB header, 1,000 headers, a control byte
    in a header, a bad method or URL, broken framing) itself, before any middleware: plain text
    quoting the client's bytes, its version banner, and a traceback in the log. This answers
    with the envelope and logs one line, quoting nothing."""

    __slots__ = ()

    def handle_error(self, request: Any, status: int = 500, exc: BaseException | None = None,
                     message: str | None = None) -> web.StreamResponse:
        if request.writer.output_size > 0:  # as aiohttp's own: too late for another answer
            raise ConnectionError("Response is sent already, cannot send another response")
        error: GatewayError
        if status >= 500:  # a bug of ours that got past the middleware: keep the traceback
            log.error("unhandled error answering %s", request.remote, exc_info=exc)
            error = InternalError("The server had an error processing your request.")
        else:
            words = _PLAIN_WORDS.match((message or "").partition("\n")[0])
            detail = words.group().strip() if words else ""
            log.info("refused a malformed request from %s: %s, %s", request.remote, type(exc).__name__, detail)
            kind = RequestTooLarge if status == 413 else InvalidRequest
            error = kind(f"The request is not valid HTTP ({detail or 'it could not be parsed'}).")
        response = web.Response(body=msgspec.json.encode(envelope(error)), status=error.status,
                                content_type="application/json", headers={"Server": "farebox"})
        response.force_close()
        return response


class _EnvelopeServer(web.Server):
    def __call__(self) -> RequestHandler:
        return EnvelopeRequestHandler(self, loop=self._loop, **self._kwargs)


class GatewayRunner(web.AppRunner):
    """aiohttp's AppRunner with farebox's connection limits (config `server:`)."""

    def __init__(self, app: web.Application, config: Config, **kwargs: Any) -> None:
        limits = config.server
        # The timer aiohttp starts with each connection closes it unless a whole request has
        # arrived: a client dribbling its headers is cut off after `header_timeout`.
        kwargs.setdefault("keepalive_timeout", min(limits.header_timeout, limits.keepalive_timeout))
        super().__init__(app, **kwargs)
        self.config = config
        self.guard: ConnectionGuard | None = None

    async def _make_server(self) -> web.Server:
        server = await super()._make_server()
        server.__class__ = _EnvelopeServer  # aiohttp builds the Server; its handlers are ours
        limits = self.config.server
        self.guard = ConnectionGuard(server, max_connections=limits.max_connections,
                                     max_per_address=limits.max_connections_per_address)
        return server
