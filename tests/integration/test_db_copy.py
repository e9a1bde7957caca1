"""`farebox db copy` from an embedded SQLite file to each store (PostgreSQL included): every row
with its id, sequences moved past the copied ids, a non-empty target refused without --force,
and a source whose balances disagree with its ledger rolled back, leaving the target empty."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import update
from typer.testing import CliRunner

from farebox.cli.main import app
from farebox.storage.db import create_engine, migrate
from farebox.storage.repository import Repository
from farebox.storage.tables import accounts
from tests.support.databases import both_databases

pytestmark = both_databases


def run(coro_fn: Callable[[Repository], Any], url: str) -> Any:
    async def main() -> Any:
        engine = create_engine(url)
        try:
            return await coro_fn(Repository(engine))
        finally:
            await engine.dispose()

    return asyncio.run(main())


async def populate(repo: Repository) -> None:
    for i in range(5):
        account = await repo.create_account(f"customer{i}", "pro")
        await repo.create_key(account["id"], None, f"sk-{i}", f"{i:064d}")
        await repo.post_entry(account["id"], "topup", 10_000 * (i + 1), idempotency_key=f"pay-{i}")
    revoked = await repo.create_key(1, "old", "sk-old", "f" * 64)
    await repo.revoke_key(revoked["id"])
    # More ledger rows than one batch, over several accounts.
    await repo.append_charges([{"created_at": time.time(), "account_id": 1 + n % 5, "kind": "charge",
                                "amount_nano": -(n + 1), "request_id": f"req-{n}"} for n in range(23)])


async def dump(repo: Repository) -> dict[str, Any]:
    rows = await repo.list_accounts()
    return {"accounts": rows, "keys": await repo.list_keys(),
            "ledger": [r for a in rows for r in await repo.ledger_rows(a["id"])]}


@pytest.fixture
def source(tmp_path: Path) -> str:
    url = f"sqlite:///{tmp_path / 'embedded.db'}"
    migrate(url)
    run(populate, url)
    return url


def copy(source: str, target: str, *extra: str) -> Any:
    return CliRunner().invoke(app, ["db", "copy", "--from", source, "--to", target, "--batch-size", "7", *extra])


def test_copy_preserves_every_row_and_id(source: str, new_database: Callable[[], str]) -> None:
    target = new_database()
    result = copy(source, target, "--json")
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    assert report["rows"] == {"accounts": 5, "api_keys": 6, "ledger": 28} and report["accounts_checked"] == 5
    assert run(dump, target) == run(dump, source)
    assert all(r["ok"] for r in run(lambda repo: repo.check_balances(), target))
    # New rows continue after the copied ids (PostgreSQL sequences were reset).
    assert run(lambda repo: repo.create_account("newcomer", "pro"), target)["id"] == 6
    row, _ = run(lambda repo: repo.post_entry(6, "topup", 5), target)
    assert row["id"] == 29
    # The version moved past the source's, so running gateways reload their caches.
    assert run(lambda repo: repo.state_version(), target) > run(lambda repo: repo.state_version(), source)


def test_non_empty_target_needs_force(source: str, new_database: Callable[[], str]) -> None:
    target = new_database()
    run(lambda repo: repo.create_account("someone", "pro"), target)
    refused = copy(source, target)
    assert refused.exit_code == 1 and "not empty" in refused.output
    assert [a["name"] for a in run(lambda repo: repo.list_accounts(), target)] == ["someone"]
    forced = copy(source, target, "--force")
    assert forced.exit_code == 0, forced.output
    assert "5 accounts" in forced.output
    assert run(dump, target) == run(dump, source)


def test_inconsistent_source_rolls_back(source: str, new_database: Callable[[], str]) -> None:
    async def corrupt(repo: Repository) -> None:
        async with repo.engine.begin() as conn:
            await conn.execute(update(accounts).where(accounts.c.id == 3).values(balance_nano=1))

    run(corrupt, source)
    target = new_database()
    result = copy(source, target)
    assert result.exit_code == 1 and "customer2" in result.output
    assert run(lambda repo: repo.list_accounts(), target) == []
