"""Everything one gateway process runs, built from a config and started/stopped together."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncEngine

from farebox.billing.ledger import LedgerWriter
from farebox.billing.redis_wallet import RedisWallet
from farebox.billing.wallet import MemoryWallet, Wallet
from farebox.config import Config
from farebox.directory import Directory, DirectoryRefresher
from farebox.pipeline.chat import ChatService
from farebox.pipeline.dispatch import Dispatcher
from farebox.providers.registry import build_adapters
from farebox.ratelimit.base import RateLimiter
from farebox.ratelimit.memory import MemoryRateLimiter
from farebox.redisconn import connect_redis
from farebox.routing.catalog import Catalog
from farebox.routing.health import Health
from farebox.services.operator import Operator
from farebox.storage.db import create_engine
from farebox.storage.repository import Repository

log = logging.getLogger("farebox")


@dataclass
class Runtime:
    config: Config
    engine: AsyncEngine
    repo: Repository
    operator: Operator
    directory: Directory
    refresher: DirectoryRefresher
    catalog: Catalog
    health: Health
    dispatcher: Dispatcher
    wallet: Wallet
    ledger: LedgerWriter
    limiter: RateLimiter
    chat: ChatService
    admin_key: str | None = None

    async def start(self) -> None:
        if isinstance(self.wallet, RedisWallet):
            await self.wallet.start()
        await self.ledger.start()
        await self.refresher.start()

    async def stop(self) -> None:
        await self.chat.drain()
        await self.refresher.stop()
        await self.ledger.stop()
        if isinstance(self.wallet, RedisWallet):
            await self.wallet.stop()
            await self.wallet.redis.aclose()
        await self.dispatcher.close()
        await self.engine.dispose()

    def held(self, account_id: int) -> int:
        return self.wallet.balance(account_id)[1]


def build_runtime(config: Config, *, admin_key: str | None = None, source: str = "config") -> Runtime:
    engine = create_engine(config.database)
    repo = Repository(engine)
    adapters: dict[str, Any] = build_adapters(config, source)
    catalog = Catalog(config, {name: getattr(a, "supported_features", frozenset())
                               for name, a in adapters.items()})
    health = Health(config.circuit)
    dispatcher = Dispatcher(adapters)
    wallet: Wallet = MemoryWallet()
    if config.redis:  # holds shared by every process and machine (docs/scale-out.md)
        wallet = RedisWallet(connect_redis(config.redis), repo, policy=config.holds.on_redis_failure,
                             owner_ttl=config.holds.owner_ttl)
    ledger = LedgerWriter(repo, wallet)
    directory = Directory(config)
    refresher = DirectoryRefresher(repo, directory, on_change=ledger.sync_balances)
    limiter = MemoryRateLimiter()
    chat = ChatService(config=config, catalog=catalog, health=health, dispatcher=dispatcher, wallet=wallet,
                       ledger=ledger, limiter=limiter)
    chat.store_down = refresher.failing
    return Runtime(config=config, engine=engine, repo=repo, operator=Operator(repo, config), directory=directory,
                   refresher=refresher, catalog=catalog, health=health, dispatcher=dispatcher, wallet=wallet,
                   ledger=ledger, limiter=limiter, chat=chat, admin_key=admin_key or config.admin_key)
