"""Where the group commit runs. SQLite: a dedicated thread with its own sqlite3 connection, so
a batch costs one thread hop. PostgreSQL: a pooled connection's asyncpg driver connection."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from farebox.storage import charges
from farebox.storage.charges import Mark, Row
from farebox.storage.db import is_sqlite, sqlite_pragmas


class ChargeWriter:
    def __init__(self, engine: AsyncEngine, url: str) -> None:
        self.engine = engine
        self._path: str | None = None
        self._db: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None
        if is_sqlite(url):
            self._path = make_url(url).database or ":memory:"
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="farebox-ledger")

    async def append(self, rows: Sequence[Row]) -> tuple[list[int], dict[int, Mark]]:
        if self._thread is not None:
            return await asyncio.get_running_loop().run_in_executor(self._thread, self._append_sqlite, rows)
        async with self.engine.connect() as conn:
            raw = await conn.get_raw_connection()
            return await charges.append_asyncpg(raw.driver_connection, rows)

    def _append_sqlite(self, rows: Sequence[Row]) -> tuple[list[int], dict[int, Mark]]:
        if self._db is None:  # opened on the writer thread, used only there
            assert self._path is not None
            self._db = sqlite3.connect(self._path, timeout=30, isolation_level=None, check_same_thread=False)
            sqlite_pragmas(self._db, None)
        return charges.append_sqlite(self._db, rows)

    def close(self) -> None:
        if self._thread is not None:
            self._thread.submit(self._close_db).result()
            self._thread.shutdown(wait=True)
            self._thread = None

    def _close_db(self) -> None:
        if self._db is not None:
            self._db.close()
            self._db = None
