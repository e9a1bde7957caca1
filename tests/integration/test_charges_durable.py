"""No charge is lost when the database cannot commit it (issue 14, finding 6): the client gets its
answer, the row waits in memory and in the spool, the account is refused meanwhile, and the
charge commits exactly once when the database is back, after a SIGKILL and restart included."""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam

from farebox.billing.ledger import LedgerWriter
from farebox.billing.spool import ChargeSpool
from farebox.billing.wallet.memory import MemoryWallet
from farebox.storage import writer
from farebox.storage.db import create_engine, migrate
from farebox.storage.repository import Repository
from tests.fakes.fake_openai import FakeOpenAI, Script
from tests.integration.test_billing_concurrency import wallet
from tests.integration.test_crash import seed
from tests.support import http
from tests.support.databases import both_databases
from tests.support.gateway import TIERS, Gateway
from tests.support.postgres_server import PG_BIN, PostgresServer
from tests.support.processes import GatewayProcess, cli
from tests.support.sdk import extras, user
from tests.support.waiting import wait_for

CONFIG = """
providers:
  up: {kind: openai, base_url: "%s"}
models:
  coder:
    tier: starter
    price: {input: 1.0, output: 2.0}
    deployments: [{provider: up, model: upstream-coder}]
"""
HELLO: list[ChatCompletionMessageParam] = [user("hi")]
WORDS = " ".join(f"w{i}" for i in range(40))


@pytest.fixture
def gateway(fake_openai: FakeOpenAI, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Gateway]:
    monkeypatch.setattr(writer, "THREAD_BUSY_TIMEOUT_S", 0.3)  # give up on a held lock quickly
    gw = Gateway(CONFIG % fake_openai.base_url, tmp_path).start()
    yield gw
    gw.stop()


def lock(database_url: str) -> sqlite3.Connection:
    """Another process's writer holding SQLite's write lock."""
    db = sqlite3.connect(database_url.removeprefix("sqlite:///"), isolation_level=None)
    db.execute("BEGIN IMMEDIATE")
    return db


def ready(base_url: str) -> dict[str, object]:
    return dict(http.get(base_url.removesuffix("/v1") + "/ready").json())


def test_locked_database_at_the_end_of_a_stream(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    key = gateway.account("ann", "pro", "1")
    fake_openai.default = Script(text=WORDS, prompt_tokens=10, completion_tokens=40)
    locker = lock(gateway.config.database)
    try:
        text = gateway.raw_stream(key, {"model": "coder", "messages": HELLO, "stream_options": {"include_usage": True}})
        assert "w39" in text and '"credits_used_usd":0.00009' in text  # all delivered, and priced
        assert ready(gateway.base_url)["pending_charges"] == 1
        spooled = list((Path(gateway.config.database.removeprefix("sqlite:///") + ".spool")).glob("*.jsonl"))
        assert len(spooled) == 1 and spooled[0].read_text().count("\n") == 1
        # The account waits for its charge; others are served (and wait for the lock too).
        with pytest.raises(openai.APIStatusError) as refused:
            gateway.client(key).chat.completions.create(model="coder", messages=HELLO)
        assert refused.value.status_code == 503 and refused.value.code == "service_unavailable"
        assert len(fake_openai.requests) == 1
        balance, held = wallet(gateway, "ann")
        assert balance == 1_000_000_000 and held >= 90_000  # the hold stays until the charge commits
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    wait_for(lambda: ready(gateway.base_url)["pending_charges"] == 0, what="the pending charge to commit")
    gateway.wait_idle()
    charges = gateway.charges("ann")
    assert len(charges) == 1 and charges[0]["amount_nano"] == -90_000 and charges[0]["outcome"] == "ok"
    assert wallet(gateway, "ann") == (1_000_000_000 - 90_000, 0)
    assert all(r["ok"] for r in gateway.check())
    reply = gateway.client(key).chat.completions.create(model="coder", messages=HELLO)  # served again
    assert reply.usage is not None and len(gateway.charges("ann")) == 2


def test_locked_database_still_delivers_a_json_answer(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    key = gateway.account("bob", "pro", "1")
    fake_openai.default = Script(prompt_tokens=10, completion_tokens=5)
    locker = lock(gateway.config.database)
    try:
        reply = gateway.client(key).chat.completions.create(model="coder", messages=HELLO)
        assert reply.usage is not None and extras(reply.usage)["credits_used_usd"] == 2e-05
    finally:
        locker.execute("ROLLBACK")
        locker.close()
    wait_for(lambda: len(gateway.charges("bob")) == 1)
    assert [c["request_id"] for c in gateway.charges("bob")] == [reply.id.removeprefix("chatcmpl-")]


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    if PG_BIN is None:
        pytest.skip("PostgreSQL is not installed")
    server = PostgresServer().start()  # its own cluster: this test stops it
    yield server
    server.destroy()


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_stopped_at_the_end_of_a_stream(own_postgres: PostgresServer, fake_openai: FakeOpenAI,
                                                 tmp_path: Path) -> None:
    url = own_postgres.create_database()
    migrate(url)
    config = f"billing: {{spool_dir: {tmp_path / 'spool'}}}\n" + CONFIG % fake_openai.base_url
    gateway = Gateway(config, tmp_path, database=url).start()
    try:
        key = gateway.account("carol", "pro", "1")
        fake_openai.default = Script(text=WORDS, chunk_delay=0.03, prompt_tokens=10, completion_tokens=40)
        stream = gateway.client(key).chat.completions.create(
            model="coder", messages=HELLO, stream=True, stream_options={"include_usage": True})
        chunks = [next(stream) for _ in range(3)]
        own_postgres.stop()
        chunks += list(stream)
        assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices).strip() == WORDS
        usage = chunks[-1].usage
        assert usage is not None and extras(usage)["credits_used_usd"] == 9e-05
        assert ready(gateway.base_url)["pending_charges"] == 1
        own_postgres.restart()
        wait_for(lambda: ready(gateway.base_url)["pending_charges"] == 0, timeout=20)
        charges = gateway.charges("carol")
        assert [c["request_id"] for c in charges] == [chunks[0].id.removeprefix("chatcmpl-")]
        assert charges[0]["amount_nano"] == -90_000
        assert all(r["ok"] for r in gateway.check())
    finally:
        gateway.stop()


@pytest.mark.slow
def test_sigkill_with_a_charge_only_in_the_spool(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    fake_openai.default = Script(prompt_tokens=10, completion_tokens=5)
    database = tmp_path / "farebox.db"
    spool = tmp_path / "spool"
    config = tmp_path / "farebox.yaml"
    config.write_text(f"database: sqlite:///{database}\nbilling: {{spool_dir: {spool}}}\n"
                      + CONFIG % fake_openai.base_url + TIERS)
    key = seed(config)
    first = GatewayProcess(config, tmp_path / "gw1.log").wait_ready()
    locker = lock(f"sqlite:///{database}")
    try:
        client = openai.OpenAI(base_url=first.base_url, api_key=key, max_retries=0, timeout=30)
        reply = client.chat.completions.create(model="coder", messages=HELLO)  # waits out the lock (5 s)
        assert reply.usage is not None and extras(reply.usage)["credits_used_usd"] == 2e-05
        assert ready(first.base_url)["pending_charges"] == 1
        first.kill()
    finally:
        locker.execute("ROLLBACK")
        locker.close()
        first.kill()
    (spooled,) = spool.glob("*.jsonl")
    copy = spooled.read_bytes()
    assert charged(database) == []

    for attempt in range(2):  # the second start replays the same row again: still charged once
        if attempt:
            (spool / "charges-1-replayed.jsonl").write_bytes(copy)
        gateway = GatewayProcess(config, tmp_path / f"gw{attempt + 2}.log").wait_ready()
        try:
            # Replayed before serving: committed by the time the gateway answers.
            assert charged(database) == [reply.id.removeprefix("chatcmpl-")]
            assert ready(gateway.base_url)["pending_charges"] == 0
            assert not [p for p in spool.glob("*.jsonl") if p.stat().st_size]
        finally:
            assert gateway.stop() == 0
    check = cli("db", "check", "--config", str(config))
    assert check.returncode == 0, check.stdout + check.stderr


def charged(database: Path) -> list[str]:
    with sqlite3.connect(database) as db:
        return [r[0] for r in db.execute("SELECT request_id FROM ledger WHERE kind = 'charge'")]


@both_databases
def test_a_replayed_charge_is_a_no_op(new_database: Callable[[], str]) -> None:
    async def run() -> None:
        engine = create_engine(new_database())
        repo = Repository(engine)
        try:
            account = (await repo.create_account("dup", "pro"))["id"]
            await repo.post_entry(account, "topup", 1000)
            row = {"created_at": time.time(), "account_id": account, "kind": "charge", "amount_nano": -100,
                   "request_id": "r-1"}
            await repo.append_charges_marked([row])
            again = dict(row, created_at=time.time())
            _, marks = await repo.append_charges_marked([again, dict(row, request_id="r-2")], skip_existing=True)
            assert marks[account][0] == 800  # only r-2 was added
            await repo.append_charges_marked([again], skip_existing=True)
            assert [r["request_id"] for r in await repo.ledger_rows(account, kind="charge")] == ["r-1", "r-2"]
            assert await repo.balances([account]) == {account: 800}
            assert all(r["ok"] for r in await repo.check_balances())
        finally:
            repo.close()
            await engine.dispose()

    asyncio.run(run())


def test_a_row_the_database_rejects_keeps_only_its_own_account_waiting(new_database: Callable[[], str],
                                                                       tmp_path: Path) -> None:
    async def run() -> None:
        engine = create_engine(new_database())
        repo = Repository(engine)
        ledger = LedgerWriter(repo, MemoryWallet(), ChargeSpool(tmp_path / "spool"))
        try:
            good = (await repo.create_account("good", "pro"))["id"]
            await ledger.start()
            rows = [{"created_at": time.time(), "account_id": account, "kind": "charge", "amount_nano": -5,
                     "request_id": f"r-{account}"} for account in (good, 999)]  # no account 999
            charges = [ledger.submit(row) for row in rows]
            assert [await c.recorded for c in charges] == [False, False]  # the batch failed: spooled
            await asyncio.wait_for(charges[0].committed, 5)  # the retry commits the good row alone
            assert not ledger.has_pending(good) and ledger.has_pending(999) and ledger.pending() == (1, 5)
            assert [r["request_id"] for r in await repo.ledger_rows(good)] == [f"r-{good}"]
            (spooled,) = (tmp_path / "spool").glob("*.jsonl")
            assert spooled.read_text().count("\n") == 1  # only the rejected row is left
        finally:
            await ledger.stop()
            repo.close()
            await engine.dispose()

    asyncio.run(run())
