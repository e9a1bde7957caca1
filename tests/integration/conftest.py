"""Fixtures the integration tests share (beside tests/conftest.py's)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.fakes.fake_openai import FakeOpenAI


@pytest.fixture
def upstreams() -> Iterator[tuple[FakeOpenAI, FakeOpenAI]]:
    """A primary and a backup fake upstream, for the resilience tests (integration/resilience.py)."""
    primary, backup = FakeOpenAI().start(), FakeOpenAI().start()
    backup.default.text = "Answer from the backup."
    yield primary, backup
    primary.stop()
    backup.stop()
