"""Every repository query on both stores (SQLite and a real PostgreSQL): ids, RETURNING, the
group commit, idempotency-key conflicts, the state version, and concurrent writers from several
connection pools (as several gateway processes would be) losing no update."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from farebox.storage.db import create_engine
from farebox.storage.repository import Conflict, Repository
from tests.support.databases import both_databases

pytestmark = both_databases


@pytest.fixture
async def repo(new_database: Callable[[], str]) -> AsyncIterator[Repository]:
    engine = create_engine(new_database())
    yield Repository(engine)
    await engine.dispose()


def charge(account_id: int, amount: int, request_id: str) -> dict[str, object]:
    return {"created_at": time.time(), "account_id": account_id, "kind": "charge", "amount_nano": -amount,
            "request_id": request_id, "model_used": "m", "prompt_tokens": 10, "completion_tokens": 5}


async def test_accounts_keys_and_version(repo: Repository) -> None:
    v0 = await repo.state_version()
    alice = await repo.create_account("alice", "pro")
    assert isinstance(alice["id"], int) and alice["balance_nano"] == 0 and alice["disabled"] is False
    with pytest.raises(Conflict):
        await repo.create_account("alice", "pro")
    for ref in (alice["id"], str(alice["id"]), "alice"):  # by id, as a number or a string, and by name
        found = await repo.find_account(ref)
        assert found is not None and found["id"] == alice["id"] and found["name"] == "alice"
    key = await repo.create_key(alice["id"], "ci", "sk-abc", "h" * 64)
    assert key["revoked_at"] is None
    updated = await repo.update_account(alice["id"], tier="elite", disabled=True)
    assert updated["tier"] == "elite" and updated["disabled"] is True
    revoked = await repo.revoke_key(key["id"])
    assert revoked is not None and revoked["revoked_at"] is not None
    again = await repo.revoke_key(key["id"])  # already revoked: unchanged, no version bump
    assert again is not None and again["revoked_at"] == revoked["revoked_at"]
    assert await repo.revoke_key(99999) is None
    assert await repo.state_version() == v0 + 4
    version, accounts, keys = await repo.snapshot()
    assert version == v0 + 4 and [a["name"] for a in accounts] == ["alice"] and keys == []
    assert [k["account"] for k in await repo.list_keys(alice["id"])] == ["alice"]


async def test_entries_idempotency_and_group_commit(repo: Repository) -> None:
    a = (await repo.create_account("a", "pro"))["id"]
    b = (await repo.create_account("b", "pro"))["id"]
    row, created = await repo.post_entry(a, "topup", 1000, idempotency_key="pay-1", note="stripe")
    assert created and row["balance_after_nano"] == 1000
    same, created = await repo.post_entry(a, "topup", 1000, idempotency_key="pay-1")
    assert not created and same["id"] == row["id"]
    with pytest.raises(Conflict):
        await repo.post_entry(a, "topup", 999, idempotency_key="pay-1")
    await repo.post_entry(b, "topup", 500)
    # Rows of two accounts interleaved, b listed first: balances-after walk back correctly.
    after = await repo.append_charges([charge(b, 100, "r1"), charge(a, 10, "r2"), charge(b, 50, "r3"),
                                       charge(a, 0, "r4")])
    assert after == [400, 990, 350, 990]
    assert await repo.balances() == {a: 990, b: 350}
    assert await repo.balances([a]) == {a: 990}
    assert [r["balance_after_nano"] for r in await repo.ledger_rows(b)] == [500, 400, 350]
    assert [r["request_id"] for r in await repo.ledger_rows(b, limit=1)] == ["r3"]
    assert len(await repo.ledger_rows(a, kind="charge")) == 2
    usage = await repo.usage_by_model(b, since=0)
    assert usage[0]["requests"] == 2 and usage[0]["cost_nano"] == 150 and usage[0]["prompt_tokens"] == 20
    assert all(r["ok"] for r in await repo.check_balances())


async def test_racing_idempotent_topups_credit_once(repo: Repository) -> None:
    a = (await repo.create_account("a", "pro"))["id"]
    results = await asyncio.gather(*(repo.post_entry(a, "topup", 700, idempotency_key="same") for _ in range(8)))
    assert sum(created for _, created in results) == 1
    assert len({row["id"] for row, _ in results}) == 1
    assert await repo.balances() == {a: 700}


async def test_concurrent_pools_lose_no_update(repo: Repository) -> None:
    """Four connection pools (four gateway processes) group-commit charges over the same
    accounts in opposite orders: no lost update, no deadlock, every balance equals its ledger."""
    ids = [(await repo.create_account(f"acct{i}", "pro"))["id"] for i in range(3)]
    for account_id in ids:
        await repo.post_entry(account_id, "topup", 1_000_000)
    engines: list[AsyncEngine] = [create_engine(str(repo.engine.url.render_as_string(hide_password=False)))
                                  for _ in range(4)]

    async def writer(n: int, engine: AsyncEngine) -> None:
        other = Repository(engine)
        order = ids if n % 2 else ids[::-1]
        for batch in range(10):
            await other.append_charges([charge(account_id, 7, f"w{n}-{batch}-{account_id}")
                                        for account_id in order])

    try:
        await asyncio.gather(*(writer(n, engine) for n, engine in enumerate(engines)))
    finally:
        for engine in engines:
            await engine.dispose()
    assert await repo.balances() == {account_id: 1_000_000 - 4 * 10 * 7 for account_id in ids}
    assert all(r["ok"] for r in await repo.check_balances())


