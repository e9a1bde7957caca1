"""Pick the wallet from the config: in memory, or Redis when `redis:` is set."""

from __future__ import annotations

from typing import TYPE_CHECKING

from farebox.billing.wallet.base import Wallet
from farebox.billing.wallet.memory import MemoryWallet
from farebox.config import Config
from farebox.storage.repository import Repository

if TYPE_CHECKING:
    from redis.asyncio import Redis


def build_wallet(config: Config, redis: Redis | None, repo: Repository) -> Wallet:
    """`redis`: the process's shared client (redisconn.connect_redis), or None for holds that
    only this process sees. Shared holds serve every process and machine (docs/scale-out.md)."""
    if redis is None:
        return MemoryWallet()
    from farebox.billing.wallet.redis import RedisWallet

    return RedisWallet(redis, repo, policy=config.holds.on_redis_failure, owner_ttl=config.holds.owner_ttl)
