"""RedisWallet against a real redis-server and both stores: several wallets (as several gateway
processes) never hold more than the balance together, commits from one are seen by the others
whatever order they arrive in, a dead process's holds are reclaimed, and Redis failing follows
the configured policy and recovers by itself."""

from __future__ import annotations

import asyncio
import itertools
import logging
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from farebox.billing.ledger import LedgerWriter
from farebox.billing.wallet.redis import RedisWallet
from farebox.errors import InsufficientCredits, ServiceUnavailable
from farebox.storage.db import create_engine
from farebox.storage.redisconn import connect_redis
from farebox.storage.redispipe import script_pipe
from farebox.storage.repository import Repository
from tests.integration.test_redispipe import BUSY
from tests.support.databases import both_databases
from tests.support.redis_server import REDIS_SERVER, RedisServer

pytestmark = [pytest.mark.redis, both_databases,
              pytest.mark.skipif(REDIS_SERVER is None, reason="redis-server is not installed")]



@pytest.fixture
async def repo(new_database: Callable[[], str]) -> AsyncIterator[Repository]:
    engine = create_engine(new_database())
    yield Repository(engine)
    await engine.dispose()


@pytest.fixture
async def wallets(redis_server: RedisServer, repo: Repository) -> AsyncIterator[Callable[..., RedisWallet]]:
    made: list[RedisWallet] = []

    def make(**kwargs: Any) -> RedisWallet:  # passed through to RedisWallet, which types them
        wallet = RedisWallet(connect_redis(redis_server.url), repo, **kwargs)
        made.append(wallet)
        return wallet

    yield make
    for wallet in made:
        await wallet.stop()
        await wallet.redis.aclose()


async def funded(repo: Repository, nano: int) -> int:
    account_id = int((await repo.create_account(f"acct{time.monotonic_ns()}", "pro"))["id"])
    await repo.post_entry(account_id, "topup", nano)
    return account_id


def hold_id() -> str:
    return f"r{time.monotonic_ns()}{next(_ids)}"


_ids = itertools.count()


async def attempt(wallet: RedisWallet, account_id: int, amount: int, hold: str | None = None) -> str | None:
    """The hold id when `amount` could be held under it, else None."""
    hold = hold or hold_id()
    try:
        await wallet.reserve(account_id, amount, hold)
        return hold
    except InsufficientCredits:
        return None


async def test_wallets_share_one_balance(repo: Repository, wallets: Callable[..., RedisWallet]) -> None:
    account_id = await funded(repo, 1000)
    three = [wallets() for _ in range(3)]
    for wallet in three:
        await wallet.start()
    results = await asyncio.gather(*(attempt(three[i % 3], account_id, 30) for i in range(60)))
    held = [(three[i % 3], h) for i, h in enumerate(results) if h]
    assert len(held) == 33  # 33 x 30 <= 1000 < 34 x 30, over three "processes"
    assert await three[0].snapshot(account_id) == (1000, 990)
    await held[0][0].release(account_id, held[0][1])
    assert await attempt(three[2], account_id, 30) and not await attempt(three[0], account_id, 30)


async def test_commits_reach_every_wallet_in_any_order(repo: Repository,
                                                       wallets: Callable[..., RedisWallet]) -> None:
    account_id = await funded(repo, 1000)
    a, b = wallets(), wallets()
    ledger = LedgerWriter(repo, a)
    await a.start()
    await ledger.start()
    await a.reserve(account_id, 400, "r1")
    await ledger.charge({"created_at": time.time(), "account_id": account_id, "kind": "charge",
                         "amount_nano": -300, "request_id": "r1"})
    await a.release(account_id, "r1")
    assert not await attempt(b, account_id, 701)  # B sees the commit: 700 left
    taken = await attempt(b, account_id, 700)
    assert taken
    await b.release(account_id, taken)
    stale = {account_id: (1000, 1)}  # the top-up's mark, arriving late: the newer seq wins
    await b.sync(stale)
    assert not await attempt(b, account_id, 701)
    await ledger.stop()


async def test_dead_process_holds_are_reclaimed(repo: Repository, wallets: Callable[..., RedisWallet]) -> None:
    account_id = await funded(repo, 1000)
    dead, alive = wallets(owner_ttl=0.4), wallets(owner_ttl=0.4)
    await dead.reserve(account_id, 900, "r-dead")  # and never heartbeats: as if killed
    # It also committed a charge to the database and died before telling Redis.
    await repo.append_charges([{"created_at": time.time(), "account_id": account_id, "kind": "charge",
                                "amount_nano": -250, "request_id": "lost"}])
    await alive.start()
    assert not await attempt(alive, account_id, 200)
    deadline = time.monotonic() + 5
    while not await attempt(alive, account_id, 750) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert await alive.snapshot(account_id) == (750, 750)  # the reclaimer re-read the balance first
    assert not await attempt(alive, account_id, 1)


async def test_redis_down_closed_then_recovers(repo: Repository, wallets: Callable[..., RedisWallet],
                                               redis_server: RedisServer, caplog: pytest.LogCaptureFixture) -> None:
    account_id = await funded(repo, 1000)
    wallet = wallets(policy="closed", owner_ttl=0.4, retry_interval=0.1)
    await wallet.start()
    await wallet.reserve(account_id, 100, "r-before")
    redis_server.kill()
    caplog.set_level(logging.WARNING, "farebox.wallet")
    with pytest.raises(ServiceUnavailable):
        await wallet.reserve(account_id, 10, "r-during")
    await wallet.release(account_id, "r-before")  # queued until Redis is back
    assert sum("Redis unreachable" in r.message for r in caplog.records) == 1
    redis_server.start()  # empty: balances reload from the database, holds start over
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            await wallet.reserve(account_id, 1000, "r-after")
            break
        except ServiceUnavailable:
            await asyncio.sleep(0.1)
    assert await wallet.snapshot(account_id) == (1000, 1000)
    assert any("reachable again" in r.message for r in caplog.records)


async def test_redis_down_open_holds_locally(repo: Repository, wallets: Callable[..., RedisWallet],
                                             redis_server: RedisServer) -> None:
    account_id = await funded(repo, 1000)
    wallet = wallets(policy="open", retry_interval=60)
    ledger = LedgerWriter(repo, wallet)
    await wallet.start()
    await ledger.start()  # the local copy of the balances, used while Redis is down
    await wallet.reserve(account_id, 600, "r-shared")
    redis_server.kill()
    local = await attempt(wallet, account_id, 400)  # local: 1000 known, nothing held locally yet
    assert local and not await attempt(wallet, account_id, 601)
    await wallet.release(account_id, local)  # the local hold goes back locally
    assert wallet.local.balance(account_id) == (1000, 0)
    await ledger.stop()


async def test_cancelled_reserve_gives_its_hold_back(repo: Repository, wallets: Callable[..., RedisWallet]) -> None:
    # A client that goes away cancels its request, maybe while its reserve is in flight in a
    # pipelined batch: Redis takes the hold, nobody will release it, so the heartbeat does.
    account_id = await funded(repo, 1000)
    wallet = wallets(owner_ttl=0.4)
    await wallet.reserve(account_id, 1, "r-load")  # loads the account into Redis
    await wallet.release(account_id, "r-load")
    await wallet.start()
    pipe, busy = script_pipe(wallet.redis), wallet.redis.register_script(BUSY)
    first = asyncio.ensure_future(pipe.call(busy, [], [150]))
    await asyncio.sleep(0.03)
    batch = [asyncio.ensure_future(pipe.call(busy, [], [150])),
             asyncio.ensure_future(wallet.reserve(account_id, 600, "r-gone"))]
    await first
    await asyncio.sleep(0.03)  # the batch is in flight: the reserve will run
    batch[1].cancel()
    assert await batch[0] == b"done"
    with pytest.raises(asyncio.CancelledError):
        await batch[1]
    assert not await attempt(wallet, account_id, 1000)  # the hold was taken...
    deadline = time.monotonic() + 5
    while not await attempt(wallet, account_id, 1000) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert await wallet.snapshot(account_id) == (1000, 1000)  # ...and given back: only the new hold remains
