"""The in-memory directory of keys, accounts and tiers that the hot path reads instead of the
database. A poller refreshes it within a second of any operator change (keys created or revoked,
tiers changed, credits added), by watching `state.version`: one tiny read every 0.25 s per
process."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from farebox.config import Config, Tier
from farebox.ratelimit.gcra import Limit
from farebox.storage.repository import Repository, Row

log = logging.getLogger("farebox.accounts.directory")


@dataclass(frozen=True, slots=True)
class Principal:
    key_id: int
    key_prefix: str
    account_id: int
    account_name: str
    tier_name: str
    tier: Tier
    rpm: int  # effective limits after key/account overrides
    burst_rpm: int
    limit: Limit  # the same, as a GCRA limit (built once per distinct rate, not per request)


class Directory:
    def __init__(self, config: Config) -> None:
        self.config = config
        self.version = -1
        self._by_hash: dict[str, Principal] = {}
        self.accounts: dict[int, Row] = {}

    def lookup(self, key_hash: str) -> Principal | None:
        return self._by_hash.get(key_hash)

    def load(self, version: int, accounts: list[Row], keys: list[Row]) -> None:
        by_id = {int(a["id"]): a for a in accounts}
        principals: dict[str, Principal] = {}
        limits: dict[tuple[int, int], Limit] = {}
        for key in keys:
            account = by_id.get(int(key["account_id"]))
            if account is None or account["disabled"]:
                continue
            tier = self.config.tiers.get(account["tier"])
            if tier is None:  # a tier removed from config: the account's keys stop working
                log.warning("account %s has unknown tier %r", account["name"], account["tier"])
                continue
            rpm = key["rpm"] or account["rpm"] or tier.rpm
            burst = max(key["burst_rpm"] or account["burst_rpm"] or tier.burst_rpm or rpm, rpm)
            limit = limits.get((rpm, burst))
            if limit is None:
                limit = limits[(rpm, burst)] = Limit(rpm, burst)
            principals[key["hash"]] = Principal(
                key_id=int(key["id"]), key_prefix=key["prefix"], account_id=int(account["id"]),
                account_name=account["name"], tier_name=account["tier"], tier=tier, rpm=rpm,
                burst_rpm=burst, limit=limit)
        self._by_hash = principals
        self.accounts = by_id
        self.version = version


class DirectoryRefresher:
    """Polls the store's version and reloads the directory (and balances) when it moves."""

    def __init__(self, repo: Repository, directory: Directory,
                 on_change: Callable[[], Awaitable[None]], interval: float = 0.25) -> None:
        self.repo = repo
        self.directory = directory
        self.on_change = on_change
        self.interval = interval
        self._task: asyncio.Task[None] | None = None
        self._failing = False

    def failing(self) -> bool:
        """True while the database is unreachable (the last poll failed)."""
        return self._failing

    async def refresh(self) -> None:
        version, accounts, keys = await self.repo.snapshot()
        self.directory.load(version, accounts, keys)

    async def start(self) -> None:
        await self.refresh()
        self._task = asyncio.create_task(self._run(), name="directory-refresher")

    async def stop(self) -> None:
        if self._task:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self.interval)
            try:
                if await self.repo.state_version() != self.directory.version:
                    await self.refresh()
                    await self.on_change()
                if self._failing:
                    log.warning("database reachable again")
                self._failing = False
            except Exception as exc:
                if not self._failing:
                    log.warning("directory refresh failed (will keep retrying): %s", exc)
                self._failing = True
