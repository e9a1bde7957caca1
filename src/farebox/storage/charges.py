"""The ledger's hot write: many request charges in one transaction (group commit).

This is the one place farebox bypasses SQLAlchemy's statement layer: building and compiling
Core statements costs ~1 ms of CPU per batch, against ~70 us for the same transaction as plain
SQL on the driver. The SQL is standard (UPDATE ... RETURNING, INSERT), written once with a
placeholder style per driver: `?` for sqlite3, `$n` for asyncpg.

A charge that failed to commit is retried (billing/ledger.py), possibly after it did commit (the
acknowledgement was lost) or after a restart replayed it from the spool: with `skip_existing`,
rows whose request id is already in the ledger are left out inside the same transaction, so a
duplicate is a no-op. The unique index on request_id backs this up: a concurrent insert of the
same id fails the whole batch, which the retry then commits without it.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from typing import Any

import asyncpg
from sqlalchemy import Integer, String

from farebox.storage.tables import ledger

Row = dict[str, Any]
Mark = tuple[int, int]  # (balance_nano, balance_seq) of one account

COLUMNS = tuple(c.name for c in ledger.columns if c.name != "id")
_AFTER = COLUMNS.index("balance_after_nano")
# What SQLAlchemy would fill in for a missing key (the token counts' 0 defaults).
_DEFAULTS = {c.name: getattr(c.default, "arg", None) for c in ledger.columns
             if c.default is not None and getattr(c.default, "is_scalar", False)}


# A value too long for its String(n) column, or out of an Integer column's range, would fail the
# whole group commit on PostgreSQL (SQLite does not check): such values are clamped, not refused,
# since the charge itself must commit. Model names are capped at validation (256); the columns
# hold 200, so a long name is cut here.
_STRING_LIMITS = [(i, c.type.length) for i, c in enumerate(c for c in ledger.columns if c.name != "id")
                  if isinstance(c.type, String) and c.type.length]
_INT32_COLUMNS = [i for i, c in enumerate(c for c in ledger.columns if c.name != "id")
                  if type(c.type) is Integer]
INT32_MAX = 2**31 - 1


def _clamp(params: list[Any]) -> None:
    for i, length in _STRING_LIMITS:
        value = params[i]
        if isinstance(value, str) and len(value) > length:
            params[i] = value[:length]
    for i in _INT32_COLUMNS:
        value = params[i]
        if isinstance(value, int) and not -INT32_MAX <= value <= INT32_MAX:
            params[i] = max(-INT32_MAX, min(INT32_MAX, value))


def _sql(placeholder: Callable[[int], str]) -> tuple[str, str]:
    update = (f"UPDATE accounts SET balance_nano = balance_nano + {placeholder(1)}, balance_seq = balance_seq + 1 "
              f"WHERE id = {placeholder(2)} RETURNING balance_nano, balance_seq")
    insert = "INSERT INTO ledger ({}) VALUES ({})".format(
        ", ".join(COLUMNS), ", ".join(placeholder(i + 1) for i in range(len(COLUMNS))))
    return update, insert


SQLITE_UPDATE, SQLITE_INSERT = _sql(lambda i: "?")
ASYNCPG_UPDATE, ASYNCPG_INSERT = _sql(lambda i: f"${i}")
ASYNCPG_EXISTING = "SELECT request_id FROM ledger WHERE request_id = ANY($1::text[])"


def _sqlite_existing(count: int) -> str:
    return f"SELECT request_id FROM ledger WHERE request_id IN ({', '.join('?' * count)})"


def _new_rows(rows: Sequence[Row], existing: set[str]) -> list[Row]:
    return [row for row in rows if row.get("request_id") not in existing]


def rejected(exc: Exception) -> bool:
    """The database answered and refused the rows (bad data: retrying them as they are cannot
    help), rather than being unreachable or locked."""
    return isinstance(exc, (LookupError, sqlite3.IntegrityError, sqlite3.DataError, sqlite3.InterfaceError,
                            asyncpg.DataError, asyncpg.IntegrityConstraintViolationError))


def totals_by_account(rows: Sequence[Row]) -> list[tuple[int, int]]:
    """(account id, summed amount), in id order: concurrent batches over the same accounts then
    lock balance rows in the same order and queue instead of deadlocking (PostgreSQL)."""
    totals: dict[int, int] = {}
    for row in rows:
        totals[row["account_id"]] = totals.get(row["account_id"], 0) + row["amount_nano"]
    return sorted(totals.items())


def ledger_values(rows: Sequence[Row], marks: dict[int, Mark]) -> tuple[list[int], list[tuple[Any, ...]]]:
    """Each row's balance-after (walking back from each account's final balance) and the row as
    INSERT parameters."""
    after = [0] * len(rows)
    running = {account_id: mark[0] for account_id, mark in marks.items()}
    for i in range(len(rows) - 1, -1, -1):
        account_id = rows[i]["account_id"]
        after[i] = running[account_id]
        running[account_id] -= rows[i]["amount_nano"]
    values = []
    for row, balance_after in zip(rows, after, strict=True):
        params = [row.get(name, _DEFAULTS.get(name)) for name in COLUMNS]
        params[_AFTER] = balance_after
        _clamp(params)
        values.append(tuple(params))
    return after, values


def append_sqlite(db: Any, rows: Sequence[Row], skip_existing: bool = False) -> tuple[list[int], dict[int, Mark]]:
    """One transaction on a sqlite3 connection in autocommit mode (isolation_level=None). The
    balances-after returned are those of the rows written (all of them unless `skip_existing`)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        if skip_existing:
            ids = [row["request_id"] for row in rows if row.get("request_id")]
            found = {r[0] for r in db.execute(_sqlite_existing(len(ids)), ids)} if ids else set()
            rows = _new_rows(rows, found)
        marks: dict[int, Mark] = {}
        for account_id, total in totals_by_account(rows):
            found = db.execute(SQLITE_UPDATE, (total, account_id)).fetchone()
            if found is None:
                raise LookupError(f"no account {account_id}")
            marks[account_id] = (int(found[0]), int(found[1]))
        after, values = ledger_values(rows, marks)
        if values:
            db.executemany(SQLITE_INSERT, values)
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise
    return after, marks


async def append_asyncpg(db: Any, rows: Sequence[Row],
                         skip_existing: bool = False) -> tuple[list[int], dict[int, Mark]]:
    """One transaction on an asyncpg connection (see append_sqlite)."""
    async with db.transaction():
        if skip_existing:
            ids = [row["request_id"] for row in rows if row.get("request_id")]
            rows = _new_rows(rows, {r[0] for r in await db.fetch(ASYNCPG_EXISTING, ids)} if ids else set())
        marks: dict[int, Mark] = {}
        for account_id, total in totals_by_account(rows):
            found = await db.fetchrow(ASYNCPG_UPDATE, total, account_id)
            if found is None:
                raise LookupError(f"no account {account_id}")
            marks[account_id] = (int(found[0]), int(found[1]))
        after, values = ledger_values(rows, marks)
        if values:
            await db.executemany(ASYNCPG_INSERT, values)
    return after, marks
