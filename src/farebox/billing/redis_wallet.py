"""Holds shared by every gateway process through Redis, so no number of processes or machines
can spend more than an account's balance. docs/scale-out.md describes the design; in short:

- Redis keeps, per account, the committed balance (with its database balance_seq: the highest
  seq wins, so commits from any process and refreshes from the database can arrive in any
  order) and the sum of open holds. A reserve is one script: check balance - held, add the hold.
- Every hold belongs to an owner (host, pid, boot id). Each process heartbeats its owner; when a
  process dies its heartbeat lapses and any live process reclaims its holds (after re-reading
  those accounts from the database, in case it died between its commit and its Redis update).
- Redis unreachable: `holds.on_redis_failure` closed refuses requests it cannot hold (503);
  open holds against this process's own copy of the balances (no cross-process guarantee),
  logged once per outage. Releases that fail are retried when Redis is back.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import socket
import time
import uuid
from typing import Any, Literal

from redis.asyncio import Redis
from redis.exceptions import RedisError
from sqlalchemy.exc import SQLAlchemyError

from farebox.billing import redis_scripts as lua
from farebox.billing.wallet import MemoryWallet, insufficient
from farebox.errors import ServiceUnavailable
from farebox.redispipe import script_pipe
from farebox.storage.repository import Repository

log = logging.getLogger("farebox.wallet")

_FAILURES = (RedisError, OSError)
Policy = Literal["open", "closed"]


class RedisWallet:
    def __init__(self, redis: Redis, repo: Repository, *, policy: Policy = "closed", owner_ttl: float = 10.0,
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
        self._pending: list[tuple[int, int]] = []  # releases that failed, retried by the heartbeat
        self._resync = False  # balances changed while Redis was unreachable: push them all again
        self._down_since: float | None = None
        self._retry_at = 0.0
        self._task: asyncio.Task[None] | None = None
        self._pipe = script_pipe(redis)  # the hot calls (reserve, release, sync) are auto-pipelined
        self._reserve = redis.register_script(lua.RESERVE)
        self._release = redis.register_script(lua.RELEASE)
        self._sync = redis.register_script(lua.SYNC)
        self._heartbeat = redis.register_script(lua.HEARTBEAT)
        self._reap = redis.register_script(lua.REAP)

    # -- the Wallet protocol ------------------------------------------------------------------
    async def reserve(self, account_id: int, amount_nano: int) -> None:
        if self._usable():
            try:
                return await self._reserve_shared(account_id, amount_nano)
            except _FAILURES as exc:
                self._failed(exc)
        if self.policy == "closed":
            raise ServiceUnavailable("Credit holds are temporarily unavailable; please retry shortly.")
        await self.local.reserve(account_id, amount_nano)

    async def release(self, account_id: int, amount_nano: int) -> None:
        # Holds taken locally (open policy, Redis down) are given back locally first.
        local = min(self.local.balance(account_id)[1], amount_nano)
        if local:
            await self.local.release(account_id, local)
        if amount_nano - local:
            await self._release_shared(account_id, amount_nano - local)

    def apply(self, account_id: int, delta_nano: int) -> None:
        self.local.apply(account_id, delta_nano)

    def replace_balances(self, balances: dict[int, int]) -> None:
        self.local.replace_balances(balances)

    def balance(self, account_id: int) -> tuple[int, int]:
        """(balance, held) as Redis last reported them to this process (else the local copy)."""
        local_balance, local_held = self.local.balance(account_id)
        seen = self._seen.get(account_id)
        return (local_balance, local_held) if seen is None else (seen[0], seen[1] + local_held)

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
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(*_FAILURES):  # give back whatever is still held (nothing, once drained)
            await self._reap(keys=[lua.OWNERS], args=[lua.PREFIX, 1, self.owner])

    # -- internals ----------------------------------------------------------------------------
    async def _reserve_shared(self, account_id: int, amount_nano: int) -> None:
        keys = [lua.account_key(account_id), lua.owner_key(self.owner), lua.OWNERS]
        args: list[str | int] = [account_id, amount_nano, self.owner, self.ttl_ms]
        abandoned = functools.partial(self._abandoned_hold, account_id, amount_nano)
        status, balance, held = await self._pipe.call(self._reserve, keys, args, abandoned)
        if status == -1:  # first use of this account since Redis started: load it from the database
            try:
                marks = await self.repo.balance_marks([account_id])
            except SQLAlchemyError:
                raise ServiceUnavailable("Billing is temporarily unavailable; please retry shortly.") from None
            await self._sync_marks(marks or {account_id: (0, 0)})
            status, balance, held = await self._pipe.call(self._reserve, keys, args, abandoned)
        self._recovered()
        self._seen[account_id] = (int(balance), int(held))
        if status != 1:
            raise insufficient(int(balance), int(held), amount_nano)

    async def _release_shared(self, account_id: int, amount_nano: int) -> None:
        if self._usable():
            try:
                balance, held = await self._pipe.call(
                    self._release, [lua.account_key(account_id), lua.owner_key(self.owner)], [account_id, amount_nano])
                self._seen[account_id] = (int(balance), int(held))
                return
            except _FAILURES as exc:
                self._failed(exc)
        self._pending.append((account_id, amount_nano))

    async def _sync_marks(self, marks: dict[int, tuple[int, int]]) -> None:
        items = list(marks.items())
        for start in range(0, len(items), 500):  # bounded script size on a large refresh
            chunk = items[start:start + 500]
            args: list[Any] = [v for _, (balance, seq) in chunk for v in (balance, seq)]
            await self._pipe.call(self._sync, [lua.account_key(a) for a, _ in chunk], args)

    def _abandoned_hold(self, account_id: int, amount_nano: int, reply: Any) -> None:
        # The reserve's caller was cancelled (client gone) after Redis took the hold: nobody will
        # release it, so the heartbeat does.
        if reply[0] == 1:
            self._pending.append((account_id, amount_nano))

    async def _run(self) -> None:
        while True:
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
        while self._pending:
            account_id, amount = self._pending.pop()
            try:
                await self._release(keys=[lua.account_key(account_id), lua.owner_key(self.owner)],
                                    args=[account_id, amount])
            except BaseException:
                self._pending.append((account_id, amount))
                raise
        dead = [_text(o) for o in await self.redis.zrangebyscore(lua.OWNERS, "-inf", now, start=0, num=20)]
        for owner in dead:
            await self._reclaim(owner)

    async def _reclaim(self, owner: str) -> None:
        # Re-read the dead process's accounts first: it may have committed charges to the
        # database and died before telling Redis, and its holds must not free that money twice.
        accounts = [int(a) for a in await self.redis.hkeys(lua.owner_key(owner))]
        if accounts:
            await self._sync_marks(await self.repo.balance_marks(accounts))
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


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
