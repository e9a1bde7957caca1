"""Shared fixtures: fake upstreams, gateways on loopback, and the database they run on."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from farebox.storage.db import migrate
from tests.fakes.fake_openai import FakeOpenAI
from tests.support.gateway import Gateway
from tests.support.postgres_server import PG_BIN, PostgresServer
from tests.support.redis_server import RedisServer


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


@pytest.fixture
def redis_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A real redis-server on loopback for one test (tests using it skip without the binary)."""
    with RedisServer(tmp_path) as server:
        yield server


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """One PostgreSQL server for the whole session (skipped when PostgreSQL is not installed)."""
    if PG_BIN is None:
        pytest.skip("PostgreSQL is not installed")
    server = PostgresServer().start()
    yield server
    server.destroy()


@pytest.fixture(scope="session")
def postgres_template(postgres: PostgresServer) -> str:
    """A migrated database that per-test databases are cloned from."""
    url = postgres.create_database()
    migrate(url)
    return url.rsplit("/", 1)[1]


@pytest.fixture(params=["sqlite"])
def database(request: pytest.FixtureRequest) -> str:
    """The store backend: "sqlite" unless a test opts into tests.support.databases.both_databases."""
    return str(request.param)


@pytest.fixture
def new_database(request: pytest.FixtureRequest, database: str, tmp_path: Path) -> Callable[[], str]:
    """Makes a fresh, migrated database URL of the selected backend, one per call."""
    made = iter(range(1_000_000))

    def make() -> str:
        if database == "sqlite":
            path = tmp_path / f"db{next(made)}" / "farebox.db"
            path.parent.mkdir(parents=True, exist_ok=True)
            migrate(f"sqlite:///{path}")
            return f"sqlite:///{path}"
        server: PostgresServer = request.getfixturevalue("postgres")
        return server.create_database(template=request.getfixturevalue("postgres_template"))

    return make


@pytest.fixture
def make_gateway(tmp_path: Path, new_database: Callable[[], str]) -> Iterator[Callable[[str], Gateway]]:
    started: list[Gateway] = []

    def make(config_text: str) -> Gateway:
        gateway_dir = tmp_path / f"gw{len(started)}"
        gateway_dir.mkdir(exist_ok=True)
        gateway = Gateway(config_text, gateway_dir, database=new_database())
        started.append(gateway.start())
        return gateway

    yield make
    for gateway in started:
        gateway.stop()
