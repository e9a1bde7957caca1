"""The network transport: one pooled aiohttp session per provider, and its timeouts. Every
upstream HTTP request of the process goes through one of these (chat calls and the price
tables' GETs alike), so connection limits and keep-alive are per provider, once."""

from __future__ import annotations

import aiohttp

from farebox.config import ProviderConfig
from farebox.providers.base import UpstreamRequest


class SessionTransport:
    def __init__(self, config: ProviderConfig) -> None:
        self.config = config
        self._session: aiohttp.ClientSession | None = None
        limits = config.timeouts
        # Streams get no aiohttp read timeout: theirs are the dispatcher's (first byte, then idle
        # once data flows); aiohttp's sock_read would also run while waiting for the headers,
        # cutting slow starts. `total` caps every call; `total_json` the non-streaming ones.
        self._timeouts = {
            True: aiohttp.ClientTimeout(total=min(limits.total, limits.total_json), connect=limits.connect),
            False: aiohttp.ClientTimeout(total=None, connect=limits.connect),
        }

    def session(self) -> aiohttp.ClientSession:
        """Made on first use, inside the running loop."""
        session = self._session
        if session is None or session.closed:
            connector = aiohttp.TCPConnector(limit=self.config.max_connections, limit_per_host=0,
                                             ttl_dns_cache=300, enable_cleanup_closed=True)
            session = self._session = aiohttp.ClientSession(connector=connector, auto_decompress=True,
                                                            skip_auto_headers=("User-Agent",))
        return session

    async def send(self, request: UpstreamRequest, *, whole: bool,
                   method: str = "POST") -> aiohttp.ClientResponse:
        # aiohttp's `total` covers connecting, sending and reading the whole body.
        return await self.session().request(method, request.url, data=request.body or None,
                                            headers=request.headers, timeout=self._timeouts[whole])

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None
