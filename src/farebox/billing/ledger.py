"""Group-committed ledger writes. Each request's charge waits for the transaction that holds it,
so a response the client has seen is a response that was billed; many requests share one
transaction, so this costs little.

No charge is ever dropped. When a commit fails (the database is down or locked), its rows are
written to the spool (billing/spool.py, fsynced) and kept in memory as pending; the response
may then go out, and the rows are retried with backoff until they commit, idempotently by
request id. A pending row's hold stays until it commits, and its account is refused new
requests until then (`has_pending`). At start, rows a killed process left in the spool are
retried before serving.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from typing import Any

from farebox.billing.spool import ChargeSpool
from farebox.billing.wallet.base import Wallet
from farebox.lifecycle import cancel_and_wait
from farebox.money import format_usd
from farebox.storage.charges import rejected
from farebox.storage.repository import Repository

log = logging.getLogger("farebox.ledger")

RETRY_MIN_S = 0.25  # first retry of a failed commit; doubles (with jitter) up to RETRY_MAX_S
RETRY_MAX_S = 5.0


class Charge:
    """One submitted row. `recorded` resolves once the row is committed (True) or durably spooled
    for a retry (False), and raises when it is neither (kept in memory and retried all the same);
    `committed` resolves once it is in the database."""

    __slots__ = ("committed", "recorded", "row")

    def __init__(self, row: dict[str, Any], loop: asyncio.AbstractEventLoop) -> None:
        self.row = row
        self.recorded: asyncio.Future[bool] = loop.create_future()
        self.committed: asyncio.Future[None] = loop.create_future()


_SYNC, _RETRY = "sync", "retry"  # queue jobs: re-read balances; retry the pending rows
Item = Charge | tuple[str, asyncio.Future[None] | None]


class LedgerWriter:
    def __init__(self, repo: Repository, wallet: Wallet, spool: ChargeSpool | None = None,
                 max_batch: int = 512) -> None:
        self.repo = repo
        self.wallet = wallet
        self.spool = spool
        self.max_batch = max_batch
        self._queue: asyncio.Queue[Item] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self._pending: dict[str, Charge] = {}  # request id -> a row waiting for its retry
        self._pending_accounts: Counter[int] = Counter()
        self._retry_delay = RETRY_MIN_S
        self._retry_timer: asyncio.TimerHandle | None = None

    async def start(self) -> None:
        await self.sync_balances_now()
        if self.spool is not None:
            adopted = await asyncio.to_thread(self.spool.adopt)
            if adopted:
                loop = asyncio.get_running_loop()
                log.warning("replaying %d charge(s) from the spool in %s", len(adopted), self.spool.directory)
                self._add_pending([Charge(row, loop) for row in adopted])
                await self._retry()  # before serving; on failure the accounts stay refused meanwhile
        self._task = asyncio.create_task(self._run(), name="ledger-writer")

    async def stop(self) -> None:
        """Commit what is queued, then stop. Rows still pending stay in the spool for the next start."""
        if self._task is None:
            return
        await self._queue.join()
        if self._retry_timer is not None:
            self._retry_timer.cancel()
            self._retry_timer = None
        await cancel_and_wait(self._task)
        self._task = None
        if self._pending:
            log.warning("stopping with %d charge(s) pending; they are replayed at the next start",
                        len(self._pending))
        if self.spool is not None:
            self.spool.close()

    # -- what the pipeline and /ready see -----------------------------------------------------
    def has_pending(self, account_id: int) -> bool:
        return account_id in self._pending_accounts

    def pending(self) -> tuple[int, int]:
        """(count, nano-USD) of charges not committed yet."""
        return len(self._pending), sum(-int(c.row["amount_nano"]) for c in self._pending.values())

    async def charge(self, row: dict[str, Any]) -> None:
        """Append one charge row; returns once it is committed or spooled (raises if neither)."""
        await self.submit(row).recorded

    def submit(self, row: dict[str, Any]) -> Charge:
        """Queue one charge row. Cancelling a waiter does not withdraw the row: once queued, it is
        committed, sooner or later."""
        charge = Charge(row, asyncio.get_running_loop())
        self._queue.put_nowait(charge)
        return charge

    async def sync_balances(self) -> None:
        """Re-read balances (after an operator change), serialised with the writes."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._queue.put_nowait((_SYNC, future))
        await future

    async def sync_balances_now(self) -> None:
        marks = await self.repo.balance_marks()
        self.wallet.replace_balances({account_id: balance for account_id, (balance, _) in marks.items()})
        await self.wallet.sync(marks)

    # -- the writer task ----------------------------------------------------------------------
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

    async def _process(self, batch: list[Item]) -> None:
        charges = [item for item in batch if isinstance(item, Charge)]
        if charges:
            await self._commit(charges)
        jobs = [item for item in batch if not isinstance(item, Charge)]
        if any(kind == _RETRY for kind, _ in jobs):
            await self._retry()
        syncs = [fut for kind, fut in jobs if kind == _SYNC and fut is not None]
        if syncs:
            try:
                await self.sync_balances_now()
                error: BaseException | None = None
            except Exception as exc:  # the next sync will catch up
                log.warning("balance refresh failed: %s", exc)
                error = exc
            for fut in syncs:
                _settle(fut, None, error)

    async def _commit(self, charges: list[Charge]) -> None:
        try:
            _, marks = await self.repo.append_charges_marked([c.row for c in charges])
        except Exception as exc:
            log.error("ledger commit of %d rows failed: %s", len(charges), exc)
            await self._defer(charges)
            return
        for charge in charges:
            self.wallet.apply(charge.row["account_id"], charge.row["amount_nano"])
        try:  # before the holds are released, so a shared wallet never shows the old balance free
            await self.wallet.sync(marks)
        except Exception as exc:  # committed all the same; the next commit or refresh catches up
            log.warning("wallet sync after commit failed: %s", exc)
        for charge in charges:
            _settle(charge.recorded, True)
            _settle(charge.committed, None)
        if self._pending:  # the database answers again: retry the pending rows now
            self._schedule_retry(0.0)

    async def _defer(self, charges: list[Charge]) -> None:
        """Keep rows whose commit failed: in memory, and in the spool before their clients go on."""
        self._add_pending(charges)
        error: BaseException | None = None
        if self.spool is None:
            error = RuntimeError("no charge spool is configured")
        else:
            try:
                await asyncio.to_thread(self.spool.append, [c.row for c in charges])
            except Exception as exc:  # kept in memory and retried; only a crash could lose them now
                log.error("could not spool %d charge(s) to %s: %s", len(charges), self.spool.directory, exc)
                error = exc
        for charge in charges:
            _settle(charge.recorded, False, error)
        count, nano = self.pending()
        log.warning("%d charge(s) pending (%s in all); retrying until they commit", count, format_usd(nano))
        self._schedule_retry()

    def _add_pending(self, charges: list[Charge]) -> None:
        for charge in charges:
            request_id = str(charge.row["request_id"])
            if request_id not in self._pending:
                self._pending[request_id] = charge
                self._pending_accounts[charge.row["account_id"]] += 1

    async def _retry(self) -> None:
        """Commit every pending row (skipping request ids the ledger already has), in batches."""
        charges = list(self._pending.values())
        done: list[Charge] = []
        error: Exception | None = None
        for start in range(0, len(charges), self.max_batch):
            error = await self._commit_apart(charges[start:start + self.max_batch], done)
            if error is not None and not rejected(error):
                break  # the database is unreachable: the other batches would fail the same way
        if error is not None:
            self._retry_delay = min(self._retry_delay * 2, RETRY_MAX_S)
            log.warning("retry of %d pending charge(s) failed: %s", len(self._pending) - len(done), error)
            self._schedule_retry()
        else:
            self._retry_delay = RETRY_MIN_S
        if not done:
            return
        for charge in done:
            del self._pending[str(charge.row["request_id"])]
            self._pending_accounts[charge.row["account_id"]] -= 1
            if not self._pending_accounts[charge.row["account_id"]]:
                del self._pending_accounts[charge.row["account_id"]]
        if self.spool is not None:
            rows = [c.row for c in self._pending.values()]
            try:
                await asyncio.to_thread(self.spool.rewrite, rows)
            except Exception as exc:  # the rows left are still in memory; a replay skips committed ones
                log.error("could not rewrite the charge spool: %s", exc)
        try:  # some rows may have committed before (a lost acknowledgement): read, don't add
            await self.sync_balances_now()
        except Exception as exc:
            log.warning("balance refresh after the retry failed: %s", exc)
            for charge in done:
                self.wallet.apply(charge.row["account_id"], charge.row["amount_nano"])
        for charge in done:
            _settle(charge.committed, None)
        log.warning("committed %d pending charge(s); %d still pending", len(done), len(self._pending))

    async def _commit_apart(self, charges: list[Charge], done: list[Charge]) -> Exception | None:
        """Commit `charges` as one transaction; if the database rejects it (a row it can never
        take), in halves, so one bad row keeps only its own account waiting (and logged)."""
        try:
            await self.repo.append_charges_marked([c.row for c in charges], skip_existing=True)
        except Exception as exc:
            if len(charges) == 1 or not rejected(exc):
                if rejected(exc):
                    log.error("the database rejects the charge for %s (kept pending): %s",
                              charges[0].row["request_id"], exc)
                return exc
            half = len(charges) // 2
            first = await self._commit_apart(charges[:half], done)
            return await self._commit_apart(charges[half:], done) or first
        done.extend(charges)
        return None

    def _schedule_retry(self, delay: float | None = None) -> None:
        if self._retry_timer is not None:
            if delay != 0.0:
                return
            self._retry_timer.cancel()
        wait = self._retry_delay * random.uniform(0.5, 1.0) if delay is None else delay
        self._retry_timer = asyncio.get_running_loop().call_later(wait, self._queue_retry)

    def _queue_retry(self) -> None:
        self._retry_timer = None
        self._queue.put_nowait((_RETRY, None))


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None = None) -> None:
    if future.done():
        return
    if error is None:
        future.set_result(result)
    else:
        future.set_exception(error)
