"""Where the group commit runs.

SQLite: on the event loop itself, with a short busy timeout. A batch is ~70 us of work, and a
hop to a writer thread costs more than that in GIL hand-offs (the thread waits for the busy
loop to yield the GIL, up to the 5 ms switch interval). Only when another process holds the
write lock (a CLI top-up, a second gateway) does the batch go to a thread that may wait for it.
WAL checkpoints (copying the log back into the database, with an fsync) would otherwise run
inside some unlucky commit on the loop every 1,000 pages and stall it for milliseconds; that
connection does not checkpoint, and the thread does it in the background instead.
PostgreSQL: a pooled connection's asyncpg driver connection.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine

from farebox.storage import charges
from farebox.storage.charges import Mark, Row
from farebox.storage.db import is_sqlite, sqlite_pragmas

log = logging.getLogger("farebox.ledger")
LOOP_BUSY_TIMEOUT_MS = 2  # how long the loop itself may wait for another writer's lock
# How long a commit waits for another process's write lock before it fails: the charge is then
# spooled and retried (billing/ledger.py), so the client is not kept waiting behind the lock.
THREAD_BUSY_TIMEOUT_S = 5.0
CHECKPOINT_EVERY_S = 1.0  # at most this long between background checkpoints while charges flow


class ChargeWriter:
    def __init__(self, engine: AsyncEngine, url: str) -> None:
        self.engine = engine
        self._path: str | None = None
        self._loop_db: sqlite3.Connection | None = None
        self._thread_db: sqlite3.Connection | None = None
        self._thread: ThreadPoolExecutor | None = None
        self._checkpoint_due = 0.0
        self._checkpointing = False
        if is_sqlite(url):
            self._path = make_url(url).database or ":memory:"
            self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="farebox-ledger")

    async def append(self, rows: Sequence[Row], skip_existing: bool = False) -> tuple[list[int], dict[int, Mark]]:
        if self._thread is None:
            async with self.engine.connect() as conn:
                raw = await conn.get_raw_connection()
                return await charges.append_asyncpg(raw.driver_connection, rows, skip_existing)
        loop = asyncio.get_running_loop()
        if self._loop_db is None:
            self._loop_db = self._connect(LOOP_BUSY_TIMEOUT_MS / 1000)
            self._loop_db.execute("PRAGMA wal_autocheckpoint=0")
        try:
            result = charges.append_sqlite(self._loop_db, rows, skip_existing)
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) and "busy" not in str(exc):
                raise
            # Another process is writing: wait for it off the loop.
            result = await loop.run_in_executor(self._thread, self._append_waiting, rows, skip_existing)
        if not self._checkpointing and loop.time() >= self._checkpoint_due:
            self._checkpointing = True
            self._checkpoint_due = loop.time() + CHECKPOINT_EVERY_S
            loop.run_in_executor(self._thread, self._checkpoint).add_done_callback(self._checkpointed)
        return result

    def _checkpoint(self) -> None:
        """PASSIVE: copies what it can without waiting for readers or blocking writers."""
        if self._thread_db is None:
            self._thread_db = self._connect(THREAD_BUSY_TIMEOUT_S)
        self._thread_db.execute("PRAGMA wal_checkpoint(PASSIVE)")

    def _checkpointed(self, done: asyncio.Future[None]) -> None:
        self._checkpointing = False
        if not done.cancelled() and done.exception() is not None:
            log.warning("WAL checkpoint failed: %s", done.exception())

    def _connect(self, busy_timeout: float) -> sqlite3.Connection:
        assert self._path is not None
        db = sqlite3.connect(self._path, timeout=busy_timeout, isolation_level=None, check_same_thread=False)
        sqlite_pragmas(db, None)
        db.execute(f"PRAGMA busy_timeout={int(busy_timeout * 1000)}")
        return db

    def _append_waiting(self, rows: Sequence[Row], skip_existing: bool) -> tuple[list[int], dict[int, Mark]]:
        if self._thread_db is None:
            self._thread_db = self._connect(THREAD_BUSY_TIMEOUT_S)
        return charges.append_sqlite(self._thread_db, rows, skip_existing)

    def close(self) -> None:
        if self._loop_db is not None:
            self._loop_db.close()
            self._loop_db = None
        if self._thread is not None:
            self._thread.submit(self._close_thread_db).result()
            self._thread.shutdown(wait=True)
            self._thread = None

    def _close_thread_db(self) -> None:
        if self._thread_db is not None:
            self._thread_db.close()
            self._thread_db = None
