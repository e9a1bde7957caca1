"""Group-committed ledger writes. Each request's charge waits for the transaction that holds it,
so a response the client has seen is a response that was billed; many requests share one
transaction, so this costs little."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from farebox.billing.wallet import Wallet
from farebox.storage.repository import Repository

log = logging.getLogger("farebox.ledger")

_SYNC = object()  # queue marker: re-read balances from the database


class LedgerWriter:
    def __init__(self, repo: Repository, wallet: Wallet, max_batch: int = 512) -> None:
        self.repo = repo
        self.wallet = wallet
        self.max_batch = max_batch
        self._queue: asyncio.Queue[tuple[Any, asyncio.Future[None]]] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await self.sync_balances_now()
        self._task = asyncio.create_task(self._run(), name="ledger-writer")

    async def stop(self) -> None:
        """Commit what is queued, then stop."""
        if self._task is None:
            return
        await self._queue.join()
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None

    async def charge(self, row: dict[str, Any]) -> None:
        """Append one charge row; returns once it is committed (raises if the commit failed)."""
        await self.submit(row)

    def submit(self, row: dict[str, Any]) -> asyncio.Future[None]:
        """Queue one charge row; the future resolves when its transaction commits (or fails).
        Cancelling a waiter does not withdraw the row: once queued, it is committed."""
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((row, future))
        return future

    async def sync_balances(self) -> None:
        """Re-read balances (after an operator change), serialised with the writes."""
        future = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((_SYNC, future))
        await future

    async def sync_balances_now(self) -> None:
        marks = await self.repo.balance_marks()
        self.wallet.replace_balances({account_id: balance for account_id, (balance, _) in marks.items()})
        await self.wallet.sync(marks)

    async def _run(self) -> None:
        last_size = 1
        while True:
            batch = [await self._queue.get()]
            if last_size > 1:
                # Under load, let the requests that are ready this loop iteration queue their
                # rows too: a commit has a fixed cost, so fewer, larger ones take less CPU. At
                # one request at a time batches stay single and nobody waits.
                await asyncio.sleep(0)
            while len(batch) < self.max_batch and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            last_size = len(batch)
            try:
                await self._process(batch)
            finally:
                for _ in batch:
                    self._queue.task_done()

    async def _process(self, batch: list[tuple[Any, asyncio.Future[None]]]) -> None:
        rows = [(row, fut) for row, fut in batch if row is not _SYNC]
        if rows:
            await self._commit(rows)
        syncs = [fut for row, fut in batch if row is _SYNC]
        if syncs:
            try:
                await self.sync_balances_now()
                error: BaseException | None = None
            except Exception as exc:  # the next sync will catch up
                log.warning("balance refresh failed: %s", exc)
                error = exc
            for fut in syncs:
                _settle(fut, error)

    async def _commit(self, rows: list[tuple[dict[str, Any], asyncio.Future[None]]]) -> None:
        try:
            _, marks = await self.repo.append_charges_marked([row for row, _ in rows])
        except Exception as exc:
            log.error("ledger commit of %d rows failed: %s", len(rows), exc)
            for _, fut in rows:
                _settle(fut, exc)
            return
        for row, _ in rows:
            self.wallet.apply(row["account_id"], row["amount_nano"])
        try:  # before the holds are released, so a shared wallet never shows the old balance free
            await self.wallet.sync(marks)
        except Exception as exc:  # committed all the same; the next commit or refresh catches up
            log.warning("wallet sync after commit failed: %s", exc)
        for _, fut in rows:
            _settle(fut, None)


def _settle(future: asyncio.Future[None], error: BaseException | None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(None)
    else:
        future.set_exception(error)
