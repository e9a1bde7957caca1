"""The seam between a built upstream request and the wire (httpx's idea of a transport).

The dispatcher (pipeline/dispatch.py) sends every `UpstreamRequest` an adapter builds through the
transport of its provider: a pooled aiohttp session for a real upstream (pipeline/transport.py),
or an in-process one that answers with the same bytes a server would (providers/noop.py), so
every provider runs the same build, parse and stream code. A response is what the dispatcher
reads of aiohttp's `ClientResponse`; an in-process response implements that subset.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any, Protocol

from farebox.providers.base import UpstreamRequest


class Body(Protocol):
    """The body as it arrives (aiohttp's StreamReader subset SSEStream and the dispatcher use)."""

    async def readany(self) -> bytes: ...

    def is_eof(self) -> bool: ...

    def set_exception(self, exc: BaseException) -> None: ...


class UpstreamResponse(Protocol):
    @property
    def status(self) -> int: ...

    @property
    def headers(self) -> Mapping[str, str]: ...

    @property
    def content(self) -> Body: ...

    @property
    def connection(self) -> Any: ...  # aiohttp's Connection (idle timer), None in process

    async def read(self) -> bytes: ...

    def release(self) -> Any: ...

    def close(self) -> None: ...

    async def __aenter__(self) -> UpstreamResponse: ...

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        tb: TracebackType | None) -> None: ...


class Transport(Protocol):
    """Sends one provider's requests. `whole`: a non-streaming call, read in full under the
    provider's `total_json` (streams get no read timeout here: the dispatcher runs theirs)."""

    async def send(self, request: UpstreamRequest, *, whole: bool, method: str = "POST") -> UpstreamResponse: ...

    async def close(self) -> None: ...
