"""Shared fixtures: fake upstreams and gateways on loopback."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.fake_openai import FakeOpenAI
from tests.support.gateway import Gateway


@pytest.fixture
def fake_openai() -> Iterator[FakeOpenAI]:
    fake = FakeOpenAI().start()
    yield fake
    fake.stop()


@pytest.fixture
def make_gateway(tmp_path: Path) -> Iterator[Callable[[str], Gateway]]:
    started: list[Gateway] = []

    def make(config_text: str) -> Gateway:
        gateway = Gateway(config_text, tmp_path / f"gw{len(started)}")
        gateway_dir = tmp_path / f"gw{len(started)}"
        gateway_dir.mkdir(exist_ok=True)
        started.append(gateway.start())
        return gateway

    yield make
    for gateway in started:
        gateway.stop()
