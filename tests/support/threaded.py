"""Run an aiohttp application on 127.0.0.1 in a thread of its own, so tests can use blocking
clients (the official openai SDK) against a real server on loopback."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from aiohttp import web

T = TypeVar("T")


class ThreadedServer:
    def __init__(self, app: web.Application, port: int = 0,
                 make_runner: Callable[..., web.AppRunner] = web.AppRunner) -> None:
        """`make_runner(app, **kwargs)`: the runner class, e.g. farebox's GatewayRunner."""
        self.app = app
        self.make_runner = make_runner
        self.requested_port = port
        self.port = 0
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> ThreadedServer:
        self._thread.start()
        self.call(self._start())
        return self

    async def _start(self) -> None:
        self._runner = self.make_runner(self.app, handler_cancellation=True, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", self.requested_port, reuse_address=True)
        await site.start()
        server = site._server
        assert isinstance(server, asyncio.Server)  # typed as AbstractServer, which has no sockets
        self.port = server.sockets[0].getsockname()[1]

    def call(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        """Run a coroutine on the server's loop and return its result."""
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def stop(self) -> None:
        if self._runner is not None:
            self.call(self._runner.cleanup())
            self._runner = None
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)
