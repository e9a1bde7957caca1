"""The SQLite ledger writer: group commits on the event loop, WAL checkpoints off it."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable

import pytest

from farebox.storage import writer
from farebox.storage.db import create_engine
from farebox.storage.repository import Repository
from tests.integration.test_repository import charge


async def test_sqlite_checkpoints_in_the_background(new_database: Callable[[], str],
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """The loop's connection never checkpoints (a checkpoint fsyncs and would stall the loop); the
    writer's thread copies the WAL back into the database file instead."""
    monkeypatch.setattr(writer, "CHECKPOINT_EVERY_S", 0.0)
    url = new_database()
    engine = create_engine(url)
    repo = Repository(engine)
    try:
        account = (await repo.create_account("a", "pro"))["id"]
        for i in range(30):
            await repo.append_charges([charge(account, 5, f"req-{i}-{j}") for j in range(20)])
            for _ in range(100):  # as a serving loop would: the last checkpoint finishes meanwhile
                await asyncio.sleep(0.01)
                if repo._writer is not None and not repo._writer._checkpointing:
                    break
        assert repo._writer is not None and repo._writer._loop_db is not None
        assert repo._writer._loop_db.execute("PRAGMA wal_autocheckpoint").fetchone()[0] == 0
        # `immutable` reads the database file alone, ignoring the WAL: what is there was checkpointed.
        path = url.split("///", 1)[1]
        with sqlite3.connect(f"file:{path}?immutable=1", uri=True) as db:
            assert db.execute("SELECT count(*) FROM ledger").fetchone()[0] == 600
    finally:
        repo.close()
        await engine.dispose()
