"""Holds shared by every gateway process through Redis, so no number of processes or machines
can spend more than an account's balance. docs/scale-out.md describes the design; in short:

- Redis keeps, per account, the committed balance (with its database balance_seq: the highest
  seq wins, so commits from any process and refreshes from the database can arrive in any
  order), each open hold by its hold id (the request id), and their sum. A reserve is one
  script: check balance - held, raise the hold to its new total. Scripts are idempotent by hold
  id and never retried by the client: a RESERVE that runs twice holds once, a RELEASE that runs
  twice releases once, and a RESERVE that runs late (Redis was frozen, the caller gave up) finds
  its id fenced by the release and does nothing.
- Every hold belongs to an owner (host, pid, boot id). Each process heartbeats its owner and
  gives back any of its holds in Redis that it no longer has in flight (a reserve whose outcome
  it never learned, a release that failed). When a process dies its heartbeat lapses and any
  live process reclaims its holds (after re-reading those accounts from the database, in case
  it died between its commit and its Redis update).
- Redis unreachable: `holds.on_redis_failure` closed refuses requests it cannot hold (503);
  open holds against this process's own copy of the balances (no cross-process guarantee),
  logged once per outage.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid
from dataclasses import dataclass
from typing import Any

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from farebox.billing.wallet import redis_scripts as lua
from farebox.billing.wallet.base import insufficient
from farebox.billing.wallet.memory import MemoryWallet
from farebox.config import FailurePolicy
from farebox.errors import ServiceUnavailable
from farebox.lifecycle import cancel_and_wait
from farebox.storage.redispipe import script_pipe
from farebox.storage.repository import Repository

log = logging.getLogger("farebox.wallet")

_FAILURES = (RedisError, OSError)


@dataclass(slots=True)
class _Hold:
    account_id: int
    total: int = 0  # what Redis confirmed holding under this id
    doubtful: bool = False  # a grow's outcome is unknown (it may still run): fence the release


class RedisWallet:
    def __init__(self, redis: Redis, repo: Repository, *, policy: FailurePolicy = "closed", owner_ttl: float = 10.0,
                 retry_interval: float = 1.0) -> None:
        self.redis = redis
        self.repo = repo
        self.policy = policy
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self.ttl_ms = int(owner_ttl * 1000)
        self.beat_interval = owner_ttl / 4
        self.retry_interval = retry_interval
        self.local = MemoryWallet()  # balances from this process's commits and refreshes; open-policy holds
        self._seen: dict[int, tuple[int, int]] = {}  # last (balance, held) Redis reported per account
        self._holds: dict[str, _Hold] = {}  # hold ids this process has in flight in Redis
        self._pending: dict[str, int] = {}  # hold id -> account: to give back (fenced) on the next beat
        self._resync = False  # balances changed while Redis was unreachable: push them all again
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._pipe = script_pipe(redis)  # the hot calls (reserve, release, sync, read) are auto-pipelined
        self._reserve = redis.register_script(lua.RESERVE)
        self._release = redis.register_script(lua.RELEASE)
        self._forget = redis.register_script(lua.FORGET)
        self._sync = redis.register_script(lua.SYNC)
        self._read = redis.register_script(lua.READ)
        self._heartbeat = redis.register_script(lua.HEARTBEAT)
        self._reap = redis.register_script(lua.REAP)

    # -- the Wallet protocol ------------------------------------------------------------------
    async def reserve(self, account_id: int, amount_nano: int, hold_id: str) -> None:
        if self._usable():
            try:
                return await self._reserve_shared(account_id, amount_nano, hold_id)
            except _FAILURES as exc:
                self._failed(exc)
        if self.policy == "closed":
            raise _holds_unavailable()
        await self.local.reserve(account_id, amount_nano, hold_id)

    async def release(self, account_id: int, hold_id: str) -> None:
        await self.local.release(account_id, hold_id)  # what was held locally (open policy, Redis down)
        hold = self._holds.pop(hold_id, None)
        if hold is not None:  # else nothing was sent for it, or it is released or pending already
            await self._release_shared(hold.account_id, hold_id, fence=hold.doubtful)

    def apply(self, account_id: int, delta_nano: int) -> None:
        self.local.apply(account_id, delta_nano)

    def replace_balances(self, balances: dict[int, int]) -> None:
        self.local.replace_balances(balances)

    def balance(self, account_id: int) -> tuple[int, int]:
        """(balance, held) as Redis last reported them to this process (else the local copy)."""
        local_balance, local_held = self.local.balance(account_id)
        seen = self._seen.get(account_id)
        return (local_balance, local_held) if seen is None else (seen[0], seen[1] + local_held)

    async def snapshot(self, account_id: int) -> tuple[int, int]:
        """(balance, held) read from Redis, which every process shares: the committed balance
        mirrored from the database and every process's holds. Redis unreachable: the local copy."""
        if self._usable():
            try:
                balance, held = await self._pipe.call(self._read, [lua.account_key(account_id)], [])
                if balance < 0:  # never used since Redis started: load it (nothing is held on it)
                    await self._load(account_id)
                    balance, held = await self._pipe.call(self._read, [lua.account_key(account_id)], [])
                self._recovered()
                self._seen[account_id] = (int(balance), int(held))
                return int(balance), int(held) + self.local.balance(account_id)[1]
            except _FAILURES as exc:
                self._failed(exc)
        return self.local.balance(account_id)

    async def sync(self, marks: dict[int, tuple[int, int]]) -> None:
        """Never raises: what Redis misses now, the full resync after an outage brings back."""
        if not marks:
            return
        if self._usable():
            try:
                return await self._sync_marks(marks)
            except _FAILURES as exc:
                self._failed(exc)
        self._resync = True

    # -- lifecycle ----------------------------------------------------------------------------
    async def start(self) -> None:
        with contextlib.suppress(*_FAILURES):
            await self._beat()
        self._task = asyncio.create_task(self._run(), name="wallet-heartbeat")

    async def stop(self) -> None:
        await cancel_and_wait(self._task)
        self._task = None
        with contextlib.suppress(*_FAILURES):  # give back whatever is still held (nothing, once drained)
            await self._give_back(dict(self._pending))
            await self._reap(keys=[lua.OWNERS], args=[lua.PREFIX, 1, self.owner])

    # -- internals ----------------------------------------------------------------------------
    async def _reserve_shared(self, account_id: int, amount_nano: int, hold_id: str) -> None:
        if hold_id in self._pending:  # an earlier reserve of this id may still run: the id is given up
            raise _holds_unavailable()
        hold = self._holds.setdefault(hold_id, _Hold(account_id))
        total = hold.total + amount_nano
        status, balance, held = await self._reserve_call(hold_id, hold, total)
        if status == -1:  # first use of this account since Redis started: load it from the database
            await self._load(account_id)
            status, balance, held = await self._reserve_call(hold_id, hold, total)
        self._recovered()
        self._seen[account_id] = (int(balance), int(held))
        if status == 1:
            hold.total = total
            return
        if not hold.total:  # refused: nothing is held under this id
            del self._holds[hold_id]
        if status == -2:  # the id was released already: this request is over
            raise _holds_unavailable()
        raise insufficient(int(balance), int(held), amount_nano)

    async def _reserve_call(self, hold_id: str, hold: _Hold, total: int) -> Any:
        keys = [lua.account_key(hold.account_id), lua.holds_key(hold.account_id), lua.owner_key(self.owner),
                lua.OWNERS, lua.fence_key(hold_id)]
        try:
            return await self._pipe.call(self._reserve, keys, [hold.account_id, hold_id, total, self.owner,
                                                               self.ttl_ms])
        except BaseException:  # timed out, connection lost, cancelled: Redis may run it (even later)
            if hold.total:  # the caller holds some and will release: that release must fence
                hold.doubtful = True
            else:  # nothing confirmed, so the caller won't release: the next beat gives it back
                self._holds.pop(hold_id, None)
                self._pending[hold_id] = hold.account_id
            raise

    async def _release_shared(self, account_id: int, hold_id: str, *, fence: bool) -> None:
        if self._usable():
            keys = [lua.account_key(account_id), lua.holds_key(account_id), lua.owner_key(self.owner),
                    lua.fence_key(hold_id)]
            try:
                _, balance, held = await self._pipe.call(self._release, keys, [hold_id, lua.FENCE_MS if fence else 0])
                self._seen[account_id] = (int(balance), int(held))
                return
            except _FAILURES as exc:
                self._failed(exc)
            except BaseException:  # cancelled in flight: it may or may not have run
                self._pending[hold_id] = account_id
                raise
        self._pending[hold_id] = account_id

    async def _load(self, account_id: int) -> None:
        try:
            marks = await self.repo.balance_marks([account_id])
        except SQLAlchemyError:
            raise ServiceUnavailable("Billing is temporarily unavailable; please retry shortly.") from None
        await self._sync_marks(marks or {account_id: (0, 0)})

    async def _sync_marks(self, marks: dict[int, tuple[int, int]]) -> None:
        items = list(marks.items())
        for start in range(0, len(items), 500):  # bounded script size on a large refresh
            chunk = items[start:start + 500]
            args: list[Any] = [v for _, (balance, seq) in chunk for v in (balance, seq)]
            await self._pipe.call(self._sync, [lua.account_key(a) for a, _ in chunk], args)

    async def _run(self) -> None:
        task = asyncio.current_task()
        # Until cancelled, even when a Redis call swallowed the cancellation (seen on Python 3.11
        # when it coincides with a socket timeout): stop() must not wait forever.
        while task is None or not task.cancelling():
            await asyncio.sleep(self.beat_interval)
            try:
                await self._beat()
                self._recovered()
            except _FAILURES as exc:
                self._failed(exc)
            except Exception:  # a database hiccup while reclaiming: try again next beat
                log.exception("reclaiming holds failed")

    async def _beat(self) -> None:
        now = int(await self._heartbeat(keys=[lua.OWNERS], args=[self.owner, self.ttl_ms]))
        if self._resync:
            self._resync = False
            try:
                await self._sync_marks(await self.repo.balance_marks())
            except BaseException:
                self._resync = True
                raise
        await self._give_back(dict(self._pending))
        await self._reconcile()
        dead = [_text(o) for o in await self.redis.zrangebyscore(lua.OWNERS, "-inf", now, start=0, num=20)]
        for owner in dead:
            await self._reclaim(owner)

    async def _reconcile(self) -> None:
        """Give back this owner's holds in Redis that it no longer has in flight: a hold is put in
        `_holds` before its reserve is sent, so whatever Redis has that `_holds` lacks is over."""
        mine = await self.redis.hgetall(lua.owner_key(self.owner))
        stale = {_text(h): int(a) for h, a in mine.items() if _text(h) not in self._holds}
        if stale:
            await self._give_back(stale)
            log.warning("gave back %d hold(s) no request of this process had in flight", len(stale))

    async def _give_back(self, holds: dict[str, int]) -> None:
        """Release these holds, fenced, so a RESERVE of theirs still on its way does nothing."""
        items = list(holds.items())
        for start in range(0, len(items), 500):
            chunk = items[start:start + 500]
            await self._forget(keys=[lua.owner_key(self.owner)],
                               args=[lua.PREFIX, lua.FENCE_MS, *(v for pair in chunk for v in pair)])
            for hold_id, _ in chunk:
                self._pending.pop(hold_id, None)

    async def _reclaim(self, owner: str) -> None:
        # Re-read the dead process's accounts first: it may have committed charges to the
        # database and died before telling Redis, and its holds must not free that money twice.
        accounts = {int(a) for a in await self.redis.hvals(lua.owner_key(owner))}
        if accounts:
            await self._sync_marks(await self.repo.balance_marks(sorted(accounts)))
        await self._reap(keys=[lua.OWNERS], args=[lua.PREFIX, 1, owner])
        log.warning("reclaimed the holds of a gateway process that stopped heartbeating (%s)", owner)

    def _usable(self) -> bool:
        return self._down_since is None or time.monotonic() >= self._retry_at

    def _failed(self, exc: BaseException) -> None:
        if self._down_since is None:
            self._down_since = time.monotonic()
            how = "refusing requests (503)" if self.policy == "closed" else \
                "holding against this process's own balances (no cross-process guarantee)"
            log.error("Redis unreachable for credit holds, %s until it is back: %s", how, exc)
        self._retry_at = time.monotonic() + self.retry_interval

    def _recovered(self) -> None:
        if self._down_since is not None:
            log.warning("Redis reachable again for credit holds after %.1f s", time.monotonic() - self._down_since)
            self._down_since = None


def _holds_unavailable() -> ServiceUnavailable:
    return ServiceUnavailable("Credit holds are temporarily unavailable; please retry shortly.")


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
