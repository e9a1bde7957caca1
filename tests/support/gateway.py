"""A real farebox gateway on loopback, built from a YAML config, for integration tests."""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any

import openai

from farebox.api.server import GatewayRunner
from farebox.app import create_app
from farebox.config import parse_config
from farebox.runtime import Runtime, build_runtime
from farebox.storage.db import migrate
from tests.spec import assert_sse_valid
from tests.support import http
from tests.support.threaded import ThreadedServer

TIERS = """
tiers:
  starter: {rank: 1, rpm: 6000, burst_rpm: 12000}
  pro:     {rank: 2, rpm: 6000, burst_rpm: 12000}
  elite:   {rank: 3, rpm: 6000, burst_rpm: 12000}
"""


class Gateway:
    def __init__(self, config_text: str, tmp: Path, clock: Callable[[], float] | None = None,
                 database: str | None = None) -> None:
        """`clock` (Unix seconds) drives the gateway's rate limiters (tests of exact limits);
        `database`: a URL (a fresh PostgreSQL database, say); default a SQLite file in `tmp`."""
        if "database:" not in config_text:
            database = database or f"sqlite:///{tmp / 'farebox.db'}"
            config_text = f"database: {database}\n" + config_text
        if "tiers:" not in config_text:
            config_text += TIERS
        self.config = parse_config(config_text, "test config")
        migrate(self.config.database)
        self.runtime: Runtime = build_runtime(self.config, admin_key="admin-test-key", clock=clock)
        self.server = ThreadedServer(create_app(self.config, runtime=self.runtime),
                                     make_runner=functools.partial(GatewayRunner, config=self.config))

    @property
    def base_url(self) -> str:
        return f"{self.server.url}/v1"

    def start(self) -> Gateway:
        self.server.start()
        return self

    def stop(self) -> None:
        self.server.stop()

    def run(self, coro: Any) -> Any:
        return self.server.call(coro)

    def account(self, name: str, tier: str = "pro", usd: str | None = "10") -> str:
        """Create an account (with credit) and return a fresh key for it, live on the gateway."""
        op = self.runtime.operator

        async def setup() -> str:
            await op.create_account(name, tier)
            if usd is not None:
                await op.post_credit(name, usd)
            key = (await op.create_key(name))["key"]
            await self.runtime.refresher.refresh()
            await self.runtime.ledger.sync_balances()
            return str(key)

        return str(self.run(setup()))

    def refresh(self) -> None:
        async def again() -> None:
            await self.runtime.refresher.refresh()
            await self.runtime.ledger.sync_balances()

        self.run(again())

    def client(self, key: str, **kwargs: Any) -> openai.OpenAI:
        kwargs.setdefault("max_retries", 0)
        return openai.OpenAI(base_url=self.base_url, api_key=key, **kwargs)

    def ledger(self, account: str) -> list[dict[str, Any]]:
        return list(self.run(self.runtime.operator.ledger(account)))

    def charges(self, account: str) -> list[dict[str, Any]]:
        return [row for row in self.ledger(account) if row["kind"] == "charge"]

    def raw_stream(self, key: str, body: dict[str, Any]) -> str:
        """A streamed answer as the bytes a client gets, checked: 200, spec-valid, ends in [DONE]."""
        reply = http.post(f"{self.base_url}/chat/completions", headers={"Authorization": f"Bearer {key}"},
                          json_body={"stream": True, **body})
        assert reply.status_code == 200, reply.text
        assert reply.text.endswith("data: [DONE]\n\n")
        assert_sse_valid(reply.text)
        return reply.text

    def check(self) -> list[dict[str, Any]]:
        return list(self.run(self.runtime.operator.check()))

    def wait_idle(self) -> None:
        self.run(asyncio.sleep(0.05))
        self.run(self.runtime.chat.drain())
