"""Sending one attempt to one deployment: the pooled HTTP client per provider, timeouts, and the
adapter's translation. Network failures become retryable UpstreamErrors here, so the caller
only ever handles one error type."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from typing import Any

import aiohttp

from farebox.protocol.sse import iter_sse
from farebox.providers.base import JSON, Target, UpstreamError
from farebox.providers.noop import NoopProvider


class Dispatcher:
    def __init__(self, adapters: dict[str, Any]) -> None:
        self.adapters = adapters
        self._sessions: dict[str, aiohttp.ClientSession] = {}

    def _session(self, target: Target) -> aiohttp.ClientSession:
        session = self._sessions.get(target.provider_name)
        if session is None or session.closed:
            limits = target.provider
            connector = aiohttp.TCPConnector(limit=limits.max_connections, limit_per_host=0,
                                             ttl_dns_cache=300, enable_cleanup_closed=True)
            session = aiohttp.ClientSession(connector=connector, auto_decompress=True,
                                            skip_auto_headers=("User-Agent",))
            self._sessions[target.provider_name] = session
        return session

    async def close(self) -> None:
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()

    def adapter(self, target: Target) -> Any:
        return self.adapters[target.provider_name]

    async def complete(self, target: Target, body: JSON) -> JSON:
        adapter = self.adapter(target)
        if isinstance(adapter, NoopProvider):
            return await adapter.complete(body, target)
        timeouts = target.provider.timeouts
        request = adapter.build_request(body, target, stream=False)
        try:
            async with asyncio.timeout(timeouts.total):
                response = await self._post(target, request.url, request.headers, request.body)
                async with response:
                    payload = await response.read()
                    if response.status >= 300:
                        raise adapter.map_error(response.status, payload, dict(response.headers))
        except TimeoutError:
            raise UpstreamError(504, "The upstream timed out.", code="upstream_timeout", retryable=True) from None
        except aiohttp.ClientError as exc:
            raise _network_error(exc) from None
        return adapter.parse_response(payload, target)  # type: ignore[no-any-return]

    async def stream(self, target: Target, body: JSON) -> AsyncIterator[JSON]:
        """Open a stream and return its chunks. Failing to connect or a non-2xx answer raises
        here, before any chunk; later failures raise from the iterator."""
        adapter = self.adapter(target)
        if isinstance(adapter, NoopProvider):
            return adapter.stream(body, target)
        request = adapter.build_request(body, target, stream=True)
        try:
            response = await self._post(target, request.url, request.headers, request.body)
        except TimeoutError:
            raise UpstreamError(504, "The upstream timed out before answering.", code="upstream_timeout",
                                retryable=True) from None
        except aiohttp.ClientError as exc:
            raise _network_error(exc) from None
        if response.status >= 300:
            try:
                payload = await response.read()
            except aiohttp.ClientError:
                payload = b""
            finally:
                response.release()
            raise adapter.map_error(response.status, payload, dict(response.headers))
        return self._chunks(adapter, target, response)

    async def _post(self, target: Target, url: str, headers: dict[str, str], body: bytes) -> Any:
        timeouts = target.provider.timeouts
        client_timeout = aiohttp.ClientTimeout(total=None, connect=timeouts.connect, sock_read=timeouts.idle)
        request = self._session(target).post(url, data=body, headers=headers, timeout=client_timeout)
        async with asyncio.timeout(timeouts.first_byte):
            return await request

    async def _chunks(self, adapter: Any, target: Target, response: Any) -> AsyncIterator[JSON]:
        timeouts = target.provider.timeouts
        finished = False
        try:
            async with asyncio.timeout(timeouts.total):
                async for chunk in adapter.parse_stream(iter_sse(response.content), target):
                    yield chunk
            finished = True
        except TimeoutError:
            raise UpstreamError(504, "The upstream stream timed out.", code="upstream_timeout") from None
        except aiohttp.ClientError as exc:
            raise _network_error(exc) from None
        finally:
            if finished:
                response.release()
            else:  # abandoned or failed: drop the connection so the upstream stops generating
                with contextlib.suppress(Exception):
                    response.close()


def _network_error(exc: aiohttp.ClientError) -> UpstreamError:
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return UpstreamError(504, "The upstream timed out.", code="upstream_timeout", retryable=True)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamError(503, "Could not connect to the upstream.", code="upstream_unreachable",
                             retryable=True)
    return UpstreamError(502, f"The upstream connection failed: {type(exc).__name__}.",
                         code="upstream_connection_error", retryable=True)
