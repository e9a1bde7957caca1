"""Auto-pipelining of the hot Redis script calls (rate checks, credit holds and releases).

Each redis-py call costs a pool checkout, a retry wrapper, a send, an event-loop wake-up and a
parse: ~80 us of CPU. Here a call made while nothing is in flight goes out at once, as a plain
script call; calls made while a round trip is in flight queue up and leave together, as one
non-transactional pipeline, when it returns: one round trip and one checkout for many.

Scripts are sent as plain EVALSHA (redis-py's pipeline would add a SCRIPT EXISTS round trip to
every execute). A NOSCRIPT reply (Redis restarted or flushed) re-sends those calls once, behind
a SCRIPT LOAD, in the same round trip (NOSCRIPT means it did not run). Every caller gets its
own result or its own exception: a Lua error fails only its call; a connection error or timeout
fails the batch, with redis-py's exception. Nothing else is re-sent: whether a call that timed
out ran is unknown, so re-sending a script that changes state could run it twice (the client
from redisconn has redis-py's retry off for the same reason). A caller cancelled before its call
is sent drops the call; one cancelled after can pass an `abandoned` hook that gets the result.
"""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from redis.asyncio import Redis
from redis.asyncio.client import Pipeline
from redis.commands.core import AsyncScript
from redis.exceptions import NoScriptError

log = logging.getLogger(__name__)

MAX_BATCH = 512  # calls per round trip: bounds one write and one read

Abandoned = Callable[[Any], None]


@dataclass(slots=True)
class _Call:
    script: AsyncScript
    command: tuple[Any, ...]
    future: asyncio.Future[Any]
    abandoned: Abandoned | None
    reloaded: bool = field(default=False)


class ScriptPipe:
    """Batches EVALSHA calls on one client's connection pool. One per client: see `script_pipe`."""

    def __init__(self, client: Redis) -> None:
        # The pool, not the client: the per-client cache below must not keep its key alive.
        self._pool = client.connection_pool
        self._callbacks = client.response_callbacks
        self._queue: list[_Call] = []
        self._busy = False  # a round trip is in flight: new calls queue
        self._task: asyncio.Task[None] | None = None  # the drain task, while it runs
        self.batches = 0  # pipelined round trips, for tests and benchmarks

    async def call(self, script: AsyncScript, keys: Sequence[Any], args: Sequence[Any],
                   abandoned: Abandoned | None = None) -> Any:
        """What `await script(keys=keys, args=args)` returns, or raises what it would raise."""
        if self._busy:
            future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self._queue.append(_Call(script, ("EVALSHA", script.sha, len(keys), *keys, *args), future, abandoned))
            return await future
        # Idle: this caller makes the round trip itself, exactly as without the pipe (the cheapest
        # way for one call); calls made meanwhile queue up for the drain task.
        self._busy = True
        try:
            return await script(keys=keys, args=args)
        finally:
            if self._queue:
                self._task = asyncio.get_running_loop().create_task(self._drain())
            else:
                self._busy = False

    async def _drain(self) -> None:
        try:
            while self._queue:
                batch = [c for c in self._queue[:MAX_BATCH] if not c.future.cancelled()]  # never sent
                del self._queue[:MAX_BATCH]
                if batch:
                    await self._send(batch)
        except BaseException as exc:  # cancelled (loop shutdown): nobody may wait forever
            for c in self._queue:
                _fail(c, exc)
            self._queue.clear()
            raise
        finally:
            self._task = None
            self._busy = False

    async def _send(self, batch: list[_Call]) -> None:
        pipe = Pipeline(self._pool, self._callbacks, False, None)
        reloads = dict.fromkeys(c.script.script for c in batch if c.reloaded)  # each once, in order
        for script in reloads:
            pipe.execute_command("SCRIPT LOAD", script)
        for c in batch:
            pipe.execute_command(*c.command)
        self.batches += 1
        try:
            replies = await pipe.execute(raise_on_error=False)
        except BaseException as exc:  # connection lost, timed out, cancelled: never re-sent
            for c in batch:
                _fail(c, exc)
            if not isinstance(exc, Exception):
                raise
            return
        retry: list[_Call] = []
        for c, reply in zip(batch, replies[len(reloads):], strict=True):
            if isinstance(reply, NoScriptError) and not c.reloaded:
                c.reloaded = True
                retry.append(c)
            elif isinstance(reply, Exception):
                _fail(c, reply)
            elif c.future.cancelled():
                if c.abandoned is not None:
                    try:
                        c.abandoned(reply)
                    except Exception:  # the other callers' results must still arrive
                        log.exception("an abandoned Redis call's hook failed")
            else:
                c.future.set_result(reply)
        self._queue[:0] = retry  # next round trip, ahead of newer calls


def _fail(c: _Call, exc: BaseException) -> None:
    if c.future.done():
        return
    if isinstance(exc, asyncio.CancelledError):
        c.future.cancel()
    else:
        c.future.set_exception(exc)


_pipes: weakref.WeakKeyDictionary[Redis, ScriptPipe] = weakref.WeakKeyDictionary()


def script_pipe(client: Redis) -> ScriptPipe:
    """The client's pipe, shared by everything using that client, so their calls batch together."""
    pipe = _pipes.get(client)
    if pipe is None:
        pipe = _pipes[client] = ScriptPipe(client)
    return pipe
