"""PostgreSQL going down under a running gateway: requests that cannot be billed are refused
with 503 and none is served unbilled (one answered just before the outage is spooled and billed
later: test_charges_durable.py); when it comes back, the gateway recovers by itself."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import openai
import pytest

from farebox.storage.db import migrate
from tests.fakes.fake_openai import FakeOpenAI, Script
from tests.support.gateway import Gateway
from tests.support.postgres_server import PG_BIN, PostgresServer

pytestmark = [pytest.mark.postgres, pytest.mark.slow,
              pytest.mark.skipif(PG_BIN is None, reason="PostgreSQL is not installed")]

CONFIG = """
providers: {up: {kind: openai, base_url: "%s"}}
models:
  m: {tier: pro, price: {input: 1, output: 2}, deployments: [{provider: up, model: m}]}
"""


@pytest.fixture
def own_postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()  # its own cluster: this test stops it
    yield server
    server.destroy()


def test_postgres_down_refuses_then_recovers(own_postgres: PostgresServer, fake_openai: FakeOpenAI,
                                             tmp_path: Path) -> None:
    url = own_postgres.create_database()
    migrate(url)
    gateway = Gateway(CONFIG % fake_openai.base_url, tmp_path, database=url).start()
    try:
        fake_openai.default = Script(prompt_tokens=10, completion_tokens=5)
        client = gateway.client(gateway.account("carol"))
        ok = [client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}]).id]
        own_postgres.stop()
        served_before = len(fake_openai.requests)
        refused = 0
        for _ in range(5):
            try:  # answered only if admitted before the poller saw the database down: then spooled
                ok.append(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}]).id)
            except openai.APIStatusError as failure:
                assert failure.status_code == 503
                refused += 1
            time.sleep(0.3)
        assert refused >= 4
        # Once the poller has seen the database down, requests stop at admission: no upstream spend.
        assert len(fake_openai.requests) - served_before < refused
        own_postgres.restart()
        deadline = time.monotonic() + 15
        while True:
            try:
                ok.append(client.chat.completions.create(model="m", messages=[{"role": "user", "content": "hi"}]).id)
                break
            except openai.APIStatusError as exc:
                assert exc.status_code == 503 and time.monotonic() < deadline
                time.sleep(0.2)
        charges = [r["request_id"] for r in gateway.ledger("carol") if r["kind"] == "charge"]
        assert sorted(f"chatcmpl-{r}" for r in charges) == sorted(ok)  # exactly what was served, nothing else
        assert all(row["ok"] for row in gateway.check())
    finally:
        gateway.stop()
