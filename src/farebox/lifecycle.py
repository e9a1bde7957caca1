"""Start/stop and background tasks: what every long-lived part of a process shares.

`Service` is what `Runtime` starts in order and stops in reverse (the wallet, the ledger writer,
the directory refresher, the price refresher). `TaskSet` keeps fire-and-forget tasks alive: the
event loop holds only weak references to tasks, so a task nobody references may be collected
before it finishes.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable
from typing import Any, Protocol


class Service(Protocol):
    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class TaskSet:
    """Strong references to background tasks until they finish."""

    def __init__(self) -> None:
        self._tasks: set[asyncio.Future[Any]] = set()

    def spawn(self, coro: Awaitable[Any]) -> asyncio.Future[Any]:
        task = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return task

    def __len__(self) -> int:
        return len(self._tasks)

    async def wait(self) -> None:
        """Until every task spawned so far has finished; their errors are theirs to log."""
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)


async def cancel_and_wait(task: asyncio.Task[Any] | None) -> None:
    """Cancel a service's background task and wait until it has stopped (None: nothing runs)."""
    if task is None:
        return
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
