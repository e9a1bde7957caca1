"""`farebox db copy`: move every row from one store to another (SQLite to PostgreSQL, usually),
ids preserved, in batches, inside one transaction on the target, verified before it commits.

The target is migrated first. A target that already holds accounts, keys or ledger rows is
refused unless `force` (which empties it, in the same transaction). After the copy, PostgreSQL
sequences are moved past the copied ids, the row counts are compared with the source and every
account's balance must equal its ledger sum; any mismatch rolls the whole copy back.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Table, delete, func, insert, select, text, update
from sqlalchemy.ext.asyncio import AsyncConnection

from farebox.storage.db import create_engine, migrate_async
from farebox.storage.tables import accounts, api_keys, ledger, state

TABLES: tuple[Table, ...] = (accounts, api_keys, ledger)  # parents first (foreign keys)


class CopyError(Exception):
    """The copy was refused or failed verification; the target is unchanged."""


@dataclass
class CopyReport:
    rows: dict[str, int] = field(default_factory=dict)  # table -> rows copied
    accounts_checked: int = 0
    version: int = 0


async def copy_database(source_url: str, target_url: str, *, force: bool = False,
                        batch_size: int = 1000) -> CopyReport:
    if source_url == target_url:
        raise CopyError("source and target are the same database")
    await migrate_async(source_url)  # an older embedded file gets today's schema first
    await migrate_async(target_url)
    source_engine, target_engine = create_engine(source_url), create_engine(target_url)
    report = CopyReport()
    try:
        async with source_engine.connect() as source, target_engine.begin() as target:
            existing = {t.name: await _count(target, t) for t in TABLES}
            if any(existing.values()) and not force:
                found = ", ".join(f"{n} {name}" for name, n in existing.items() if n)
                raise CopyError(f"the target is not empty ({found}); use --force to replace its contents")
            for table in reversed(TABLES):
                await target.execute(delete(table))
            for table in TABLES:
                report.rows[table.name] = await _copy_table(source, target, table, batch_size)
            if target.dialect.name == "postgresql":
                for table in TABLES:
                    await _reset_sequence(target, table)
            report.version = await _carry_version(source, target)
            report.accounts_checked = await _verify(source, target)
    finally:
        await source_engine.dispose()
        await target_engine.dispose()
    return report


async def _count(conn: AsyncConnection, table: Table) -> int:
    return int((await conn.execute(select(func.count()).select_from(table))).scalar_one())


async def _copy_table(source: AsyncConnection, target: AsyncConnection, table: Table, batch_size: int) -> int:
    # Keyset pages by id: constant memory on a large ledger, portable across drivers.
    copied, last = 0, None
    while True:
        query = select(table).order_by(table.c.id).limit(batch_size)
        if last is not None:
            query = query.where(table.c.id > last)
        rows = [dict(r._mapping) for r in await source.execute(query)]
        if not rows:
            return copied
        await target.execute(insert(table), rows)
        copied += len(rows)
        last = rows[-1]["id"]


async def _reset_sequence(conn: AsyncConnection, table: Table) -> None:
    # Next id = max(id) + 1 (or 1 on an empty table), so new rows never collide with copied ids.
    await conn.execute(text(
        f"SELECT setval(pg_get_serial_sequence('{table.name}', 'id'), "
        f"COALESCE((SELECT MAX(id) FROM {table.name}), 1), "
        f"(SELECT MAX(id) FROM {table.name}) IS NOT NULL)"))


async def _carry_version(source: AsyncConnection, target: AsyncConnection) -> int:
    # Past both versions, so a gateway already watching the target reloads its caches.
    versions = [int((await conn.execute(select(state.c.version).where(state.c.id == 1))).scalar_one())
                for conn in (source, target)]
    version = max(versions) + 1
    await target.execute(update(state).where(state.c.id == 1).values(version=version))
    return version


async def _verify(source: AsyncConnection, target: AsyncConnection) -> int:
    for table in TABLES:
        expected, found = await _count(source, table), await _count(target, table)
        if expected != found:
            raise CopyError(f"{table.name}: the source has {expected} rows, the target {found}; "
                            "was a gateway still writing to the source?")
    sums = (select(ledger.c.account_id, func.sum(ledger.c.amount_nano).label("total"))
            .group_by(ledger.c.account_id).subquery())
    rows = (await target.execute(
        select(accounts.c.name, accounts.c.balance_nano, func.coalesce(sums.c.total, 0))
        .select_from(accounts.outerjoin(sums, sums.c.account_id == accounts.c.id)))).all()
    wrong = [name for name, balance, total in rows if int(balance) != int(total)]
    if wrong:
        raise CopyError(f"balance differs from the ledger sum for: {', '.join(wrong[:10])}"
                        f"{' ...' if len(wrong) > 10 else ''}; the copy was rolled back")
    return len(rows)
