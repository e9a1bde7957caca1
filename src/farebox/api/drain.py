"""Graceful stop: the requests in flight may finish within the grace; what is left is cancelled,
so a stream settles as `abandoned` (billed for what was delivered) before the ledger stops.

aiohttp's own `shutdown_timeout` waits for the handlers, then only *asks* them to stop and waits
a second timeout for a handler that reads no body (a relaying stream), and lets the runtime stop
while cancelled handlers may still be settling. So the app tracks its request tasks itself and
drains them in `on_shutdown`, after the listening sockets are closed and before the runtime's
cleanup (which waits for the settlements and commits the ledger)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

log = logging.getLogger("farebox")

CANCEL_WAIT = 3.0  # seconds cancelled handlers get to run their `finally` (settle, release)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class InFlight:
    """The request tasks being handled, for `drain`."""

    def __init__(self, grace: float) -> None:
        self.grace = grace
        self.tasks: set[asyncio.Task[Any]] = set()

    @web.middleware
    async def middleware(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        try:
            return await handler(request)
        finally:
            self.tasks.discard(task)

    async def on_shutdown(self, _app: web.Application) -> None:
        await self.drain(self.grace)

    async def drain(self, grace: float) -> int:
        """Wait up to `grace` seconds for the requests in flight, then cancel the rest and wait
        (briefly) for their cleanup. Returns how many were cancelled."""
        pending = {task for task in self.tasks if not task.done()}
        if not pending:
            return 0
        log.info("stopping: %d request(s) in flight, waiting up to %.1f s", len(pending), grace)
        if grace > 0:
            _, pending = await asyncio.wait(pending, timeout=grace)
        if not pending:
            return 0
        log.warning("stopping: cancelling %d request(s) still running after %.1f s", len(pending), grace)
        for task in pending:
            task.cancel()
        _, stuck = await asyncio.wait(pending, timeout=CANCEL_WAIT)
        if stuck:
            log.error("stopping: %d request(s) did not finish %.1f s after being cancelled",
                      len(stuck), CANCEL_WAIT)
        return len(pending)
