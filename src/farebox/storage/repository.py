"""All SQL farebox runs. Every change an operator makes bumps `state.version` in the same
transaction, which is how gateway processes learn to refresh their caches."""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from farebox.storage.charges import Mark, Row
from farebox.storage.tables import accounts, admin_keys, api_keys, ledger, state
from farebox.storage.writer import ChargeWriter

__all__ = ["Conflict", "Mark", "Repository", "Row"]


MAX_ROW_ID = 2**63 - 1  # SQL BIGINT: a larger int overflows the driver (a 500, not a miss)


def row_id(ref: str | int) -> int | None:
    """`ref` as a row id when it can be one: ASCII digits ("²" passes str.isdigit, not int())
    within 64 bits; None otherwise."""
    text = str(ref)
    if not (text.isascii() and text.isdigit()):
        return None
    value = int(text)
    return value if value <= MAX_ROW_ID else None


class Conflict(Exception):
    """A uniqueness rule was broken (duplicate account name, reused idempotency key...)."""


class Repository:
    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._writer: ChargeWriter | None = None

    # -- accounts -----------------------------------------------------------------------------
    async def create_account(self, name: str, tier: str) -> Row:
        async with self.engine.begin() as conn:
            try:
                result = await conn.execute(
                    insert(accounts).values(name=name, tier=tier, balance_nano=0, disabled=False,
                                            created_at=time.time()).returning(*accounts.c))
            except IntegrityError:
                raise Conflict(f"an account named {name!r} already exists") from None
            await _bump(conn)
            return dict(result.one()._mapping)

    async def find_account(self, ref: str | int) -> Row | None:
        """By id (an int, or digits) or by name."""
        where = accounts.c.name == str(ref)
        if (account_id := row_id(ref)) is not None:
            where = where | (accounts.c.id == account_id)
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(accounts).where(where).order_by(accounts.c.id))).first()
        return dict(row._mapping) if row else None

    async def list_accounts(self) -> list[Row]:
        async with self.engine.connect() as conn:
            rows = await conn.execute(select(accounts).order_by(accounts.c.id))
            return [dict(r._mapping) for r in rows]

    async def update_account(self, account_id: int, **values: Any) -> Row:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(accounts).where(accounts.c.id == account_id).values(**values).returning(*accounts.c))
            await _bump(conn)
            return dict(result.one()._mapping)

    # -- keys ---------------------------------------------------------------------------------
    async def create_key(self, account_id: int, name: str | None, prefix: str, key_hash: str) -> Row:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                insert(api_keys).values(account_id=account_id, name=name, prefix=prefix, hash=key_hash,
                                        created_at=time.time()).returning(*api_keys.c))
            await _bump(conn)
            return dict(result.one()._mapping)

    async def list_keys(self, account_id: int | None = None) -> list[Row]:
        query = select(api_keys, accounts.c.name.label("account")).join(accounts)
        if account_id is not None:
            query = query.where(api_keys.c.account_id == account_id)
        async with self.engine.connect() as conn:
            return [dict(r._mapping) for r in await conn.execute(query.order_by(api_keys.c.id))]

    async def revoke_key(self, key_id: int) -> Row | None:
        async with self.engine.begin() as conn:
            result = await conn.execute(
                update(api_keys).where(api_keys.c.id == key_id, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=time.time()).returning(*api_keys.c))
            row = result.first()
            if row is None:
                existing = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).first()
                return dict(existing._mapping) if existing else None
            await _bump(conn)
            return dict(row._mapping)

    async def update_key(self, key_id: int, **values: Any) -> Row | None:
        async with self.engine.begin() as conn:
            row = (await conn.execute(
                update(api_keys).where(api_keys.c.id == key_id).values(**values).returning(*api_keys.c))).first()
            if row is None:
                return None
            await _bump(conn)
            return dict(row._mapping)

    # -- admin keys ---------------------------------------------------------------------------
    async def create_admin_key(self, name: str | None, prefix: str, key_hash: str) -> Row:
        async with self.engine.begin() as conn:
            result = await conn.execute(insert(admin_keys).values(
                name=name, prefix=prefix, hash=key_hash, created_at=time.time()).returning(*admin_keys.c))
            return dict(result.one()._mapping)

    async def admin_key_exists(self, key_hash: str | None) -> bool:
        """Is this key (or, with None, any key) a live admin key?"""
        query = select(admin_keys.c.id).where(admin_keys.c.revoked_at.is_(None)).limit(1)
        if key_hash is not None:
            query = query.where(admin_keys.c.hash == key_hash)
        async with self.engine.connect() as conn:
            return (await conn.execute(query)).first() is not None

    # -- money --------------------------------------------------------------------------------
    async def post_entry(self, account_id: int, kind: str, amount_nano: int, *, note: str | None = None,
                         idempotency_key: str | None = None) -> tuple[Row, bool]:
        """Append a top-up / refund / adjustment. Returns (row, created); a reused idempotency
        key returns the original row with created=False instead of crediting twice."""
        if idempotency_key is not None:
            earlier = await self._by_idempotency_key(idempotency_key)
            if earlier is not None:
                return _same_entry_or_conflict(earlier, account_id, kind, amount_nano), False
        try:
            async with self.engine.begin() as conn:
                balance = await _add_to_balance(conn, account_id, amount_nano)
                result = await conn.execute(insert(ledger).values(
                    created_at=time.time(), account_id=account_id, kind=kind, amount_nano=amount_nano,
                    balance_after_nano=balance, note=note, idempotency_key=idempotency_key,
                ).returning(*ledger.c))
                await _bump(conn)
                return dict(result.one()._mapping), True
        except IntegrityError:  # a concurrent request with the same idempotency key won the race
            earlier = await self._by_idempotency_key(idempotency_key or "")
            if earlier is None:
                raise
            return _same_entry_or_conflict(earlier, account_id, kind, amount_nano), False

    async def _by_idempotency_key(self, key: str) -> Row | None:
        async with self.engine.connect() as conn:
            row = (await conn.execute(select(ledger).where(ledger.c.idempotency_key == key))).first()
        return dict(row._mapping) if row else None

    async def append_charges(self, rows: Sequence[Row]) -> list[int]:
        """Group commit: many request charges, one transaction. Returns each row's balance after."""
        return (await self.append_charges_marked(rows))[0]

    async def append_charges_marked(self, rows: Sequence[Row], *,
                                    skip_existing: bool = False) -> tuple[list[int], dict[int, Mark]]:
        """append_charges, also returning each changed account's (balance, balance_seq). With
        `skip_existing`, a row whose request id is already in the ledger is a no-op (a retry)."""
        if self._writer is None:
            self._writer = ChargeWriter(self.engine, self.engine.url.render_as_string(hide_password=False))
        return await self._writer.append(rows, skip_existing)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None

    async def ledger_rows(self, account_id: int, *, limit: int | None = None, since: float | None = None,
                          kind: str | None = None) -> list[Row]:
        query = select(ledger).where(ledger.c.account_id == account_id)
        if since is not None:
            query = query.where(ledger.c.created_at >= since)
        if kind is not None:
            query = query.where(ledger.c.kind == kind)
        query = query.order_by(ledger.c.id.desc() if limit else ledger.c.id)
        if limit:
            query = query.limit(limit)
        async with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in await conn.execute(query)]
        return rows[::-1] if limit else rows

    async def usage_by_model(self, account_id: int, since: float) -> list[Row]:
        c = ledger.c
        query = (select(c.model_used.label("model"), func.count().label("requests"),
                        func.sum(c.prompt_tokens).label("prompt_tokens"),
                        func.sum(c.cached_tokens).label("cached_tokens"),
                        func.sum(c.cache_write_tokens).label("cache_write_tokens"),
                        func.sum(c.completion_tokens).label("completion_tokens"),
                        func.sum(c.reasoning_tokens).label("reasoning_tokens"),
                        func.sum(-c.amount_nano).label("cost_nano"))
                 .where(c.account_id == account_id, c.kind == "charge", c.created_at >= since)
                 .group_by(c.model_used).order_by(c.model_used))
        async with self.engine.connect() as conn:
            return [dict(r._mapping) for r in await conn.execute(query)]

    async def check_balances(self) -> list[Row]:
        """Every account with its balance and its ledger sum, whether they agree, and its overruns
        (charges above their hold: count and sum)."""
        sums = (select(ledger.c.account_id, func.coalesce(func.sum(ledger.c.amount_nano), 0).label("total"),
                       func.count(ledger.c.overrun_nano).label("overruns"),
                       func.coalesce(func.sum(ledger.c.overrun_nano), 0).label("overrun_nano"))
                .group_by(ledger.c.account_id).subquery())
        query = (select(accounts.c.id, accounts.c.name, accounts.c.balance_nano,
                        func.coalesce(sums.c.total, 0).label("ledger_nano"),
                        func.coalesce(sums.c.overruns, 0).label("overruns"),
                        func.coalesce(sums.c.overrun_nano, 0).label("overrun_nano"))
                 .select_from(accounts.outerjoin(sums, sums.c.account_id == accounts.c.id))
                 .order_by(accounts.c.id))
        async with self.engine.connect() as conn:
            rows = [dict(r._mapping) for r in await conn.execute(query)]
        for row in rows:
            row["ok"] = int(row["balance_nano"]) == int(row["ledger_nano"])
        return rows

    # -- the gateway's cache ------------------------------------------------------------------
    async def state_version(self) -> int:
        async with self.engine.connect() as conn:
            return int((await conn.execute(select(state.c.version).where(state.c.id == 1))).scalar_one())

    async def snapshot(self) -> tuple[int, list[Row], list[Row]]:
        """(version, accounts, active keys) read in one transaction, for the in-memory cache."""
        async with self.engine.connect() as conn:
            version = int((await conn.execute(select(state.c.version).where(state.c.id == 1))).scalar_one())
            account_rows = [dict(r._mapping) for r in await conn.execute(select(accounts))]
            key_rows = [dict(r._mapping) for r in
                        await conn.execute(select(api_keys).where(api_keys.c.revoked_at.is_(None)))]
        return version, account_rows, key_rows

    async def balance_marks(self, account_ids: Iterable[int] | None = None) -> dict[int, Mark]:
        """(balance, balance_seq) per account: the newest seq wins wherever balances are copied."""
        query = select(accounts.c.id, accounts.c.balance_nano, accounts.c.balance_seq)
        if account_ids is not None:
            query = query.where(accounts.c.id.in_(list(account_ids)))
        async with self.engine.connect() as conn:
            return {int(r.id): (int(r.balance_nano), int(r.balance_seq)) for r in await conn.execute(query)}

    async def balances(self, account_ids: Iterable[int] | None = None) -> dict[int, int]:
        query = select(accounts.c.id, accounts.c.balance_nano)
        if account_ids is not None:
            query = query.where(accounts.c.id.in_(list(account_ids)))
        async with self.engine.connect() as conn:
            return {int(r.id): int(r.balance_nano) for r in await conn.execute(query)}


async def _add_to_balance(conn: AsyncConnection, account_id: int, amount_nano: int) -> int:
    result = await conn.execute(
        update(accounts).where(accounts.c.id == account_id)
        .values(balance_nano=accounts.c.balance_nano + amount_nano, balance_seq=accounts.c.balance_seq + 1)
        .returning(accounts.c.balance_nano))
    return int(result.scalar_one())


async def _bump(conn: AsyncConnection) -> None:
    await conn.execute(update(state).where(state.c.id == 1).values(version=state.c.version + 1))


def _same_entry_or_conflict(earlier: Row, account_id: int, kind: str, amount_nano: int) -> Row:
    if earlier["account_id"] != account_id or earlier["amount_nano"] != amount_nano or earlier["kind"] != kind:
        raise Conflict("this idempotency key was already used for a different entry (account, kind or amount)")
    return earlier
