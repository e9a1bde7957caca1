"""The async Anthropic and Gemini fakes (tests/fakes/) served from a thread of their own, so
blocking tests (the official openai SDK against a gateway) can use them like FakeOpenAI."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from tests.fakes.anthropic_upstream import FakeAnthropic
from tests.fakes.gemini_upstream import FakeGemini
from tests.support.threaded import ThreadedServer


@contextmanager
def threaded_anthropic() -> Iterator[tuple[str, FakeAnthropic]]:
    """(base_url, fake): set `fake.script`, read `fake.requests`."""
    fake = FakeAnthropic()
    server = ThreadedServer(fake.app()).start()
    fake.base_url = server.url
    try:
        yield server.url, fake
    finally:
        server.stop()


@contextmanager
def threaded_gemini() -> Iterator[tuple[str, FakeGemini]]:
    """(base_url, fake): `fake.push(Reply(...))`, read `fake.requests`."""
    fake = FakeGemini()
    server = ThreadedServer(fake.app()).start()
    try:
        yield server.url, fake
    finally:
        server.stop()
