"""Everything one gateway process runs, built from a config and started/stopped together."""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass

from redis.asyncio import Redis
from sqlalchemy.ext.asyncio import AsyncEngine

from farebox.accounts.directory import Directory, DirectoryRefresher
from farebox.billing.ledger import LedgerWriter
from farebox.billing.spool import ChargeSpool, default_spool_dir
from farebox.billing.wallet.backends import build_wallet
from farebox.billing.wallet.base import Wallet
from farebox.config import Config
from farebox.lifecycle import Service
from farebox.pipeline.chat import ChatService
from farebox.pipeline.dispatch import Dispatcher
from farebox.pipeline.rate_limit import RateGate
from farebox.providers.registry import build_adapters
from farebox.ratelimit.backends import Clock, Limiters, build_limiters
from farebox.routing.catalog import Catalog, adapter_features
from farebox.routing.health import Health
from farebox.routing.pricebook import PriceBook, PriceRefresher
from farebox.services.operator import Operator
from farebox.storage.db import create_engine
from farebox.storage.redisconn import connect_redis
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
    limiters: Limiters
    rate_gate: RateGate
    chat: ChatService
    admin_key: str | None = None
    prices: PriceRefresher | None = None
    redis: Redis | None = None  # the process's one Redis client, when `redis:` is set

    def services(self) -> list[Service]:
        """In start order; they stop in reverse (the ledger writer needs the wallet, and so on)."""
        services: list[Service] = [self.wallet, self.ledger, self.refresher]
        return services if self.prices is None else [*services, self.prices]

    async def start(self) -> None:
        for service in self.services():
            await service.start()

    async def stop(self) -> None:
        await self.chat.drain()
        for service in reversed(self.services()):
            await service.stop()
        await self.dispatcher.close()
        if self.redis is not None:
            await self.redis.aclose()
        self.repo.close()
        await self.engine.dispose()

    async def held(self, account_id: int) -> int:
        """What the account's requests in flight hold, in every process (the wallet's truth)."""
        return (await self.wallet.snapshot(account_id))[1]


def build_runtime(config: Config, *, admin_key: str | None = None, source: str = "config",
                  clock: Clock | None = None) -> Runtime:
    """`clock` (Unix seconds) drives the rate limiters; tests inject a fake one."""
    engine = create_engine(config.database)
    repo = Repository(engine)
    adapters = build_adapters(config, source)
    pricebook = PriceBook.for_config(config)
    catalog = Catalog(config, adapter_features(adapters), pricebook)
    health = Health(config.circuit)
    dispatcher = Dispatcher(adapters)
    # One fail-fast client per process, shared by the holds and the rate limits.
    redis = connect_redis(config.redis) if config.redis else None
    wallet = build_wallet(config, redis, repo)
    spool = ChargeSpool(config.billing.spool_dir or default_spool_dir(config.database))
    ledger = LedgerWriter(repo, wallet, spool)
    directory = Directory(config)
    refresher = DirectoryRefresher(repo, directory, on_change=ledger.sync_balances)
    limiters = build_limiters(config, redis, clock)
    rate_gate = RateGate(limiters.rate, limiters.concurrency, config.rate_limits.scope, config.tiers)
    chat = ChatService(config=config, catalog=catalog, health=health, dispatcher=dispatcher, wallet=wallet,
                       ledger=ledger, rate_gate=rate_gate)
    chat.store_down = refresher.failing
    return Runtime(config=config, engine=engine, repo=repo, operator=Operator(repo, config), directory=directory,
                   refresher=refresher, catalog=catalog, health=health, dispatcher=dispatcher, wallet=wallet,
                   ledger=ledger, limiters=limiters, rate_gate=rate_gate, chat=chat, redis=redis,
                   admin_key=admin_key or config.admin_key or os.environ.get("FAREBOX_ADMIN_KEY") or None,
                   prices=PriceRefresher(pricebook, config, dispatcher.get_json))
