"""Sending one attempt to one deployment: the pooled HTTP client per provider, timeouts, and the
adapter's translation. Network failures become retryable UpstreamErrors here, so the caller
only ever handles one error type."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

import aiohttp

from farebox.protocol.sse import SSEError, SSEStream
from farebox.providers.base import JSON, StreamChunk, Target, UpstreamError, UpstreamRequest, read_batches
from farebox.providers.noop import NoopProvider

Batches = AsyncGenerator[list[StreamChunk], None]
"""A stream's chunks, in batches: every chunk one network read made available (never empty)."""


DRAIN_S = 2.0  # how long a finished stream's leftover body may take before the connection is dropped


class Dispatcher:
    def __init__(self, adapters: dict[str, Any]) -> None:
        self.adapters = adapters
        self._sessions: dict[str, aiohttp.ClientSession] = {}
        self._timeouts: dict[tuple[str, bool], aiohttp.ClientTimeout] = {}
        self._draining: set[asyncio.Task[None]] = set()

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
        for task in self._draining:
            task.cancel()
        await asyncio.gather(*self._draining, return_exceptions=True)
        for session in self._sessions.values():
            await session.close()
        self._sessions.clear()

    def adapter(self, target: Target) -> Any:
        return self.adapters[target.provider_name]

    async def complete(self, target: Target, body: JSON) -> JSON:
        """One non-streaming attempt. The upstream sends nothing until it has generated the whole
        reply, so only `connect` and `total` apply (a first-byte limit would cut long replies)."""
        adapter = self.adapter(target)
        if isinstance(adapter, NoopProvider):
            return await adapter.complete(body, target)
        request = adapter.build_request(body, target, stream=False)
        try:
            # aiohttp's `total` covers connecting, sending and reading the whole body.
            response = await self._post(target, request, whole=True)
            async with response:
                payload = await response.read()
                if response.status >= 300:
                    raise adapter.map_error(response.status, payload, dict(response.headers))
        except TimeoutError:
            raise _timeout("The upstream did not answer in time.") from None
        except aiohttp.ClientError as exc:
            raise _network_error(exc) from None
        return adapter.parse_response(payload, target)  # type: ignore[no-any-return]

    async def open_stream(self, target: Target, body: JSON, *,
                          budget: float | None = None) -> tuple[list[StreamChunk], Batches]:
        """Open a stream and read its first batch of chunks within `first_byte` (or `budget`, if
        shorter). Every failure up to there raises a retryable UpstreamError (nothing reached the
        client yet); later ones raise from the returned batches: `idle` seconds without data, or
        past `total` since the request began."""
        adapter = self.adapter(target)
        if isinstance(adapter, NoopProvider):
            batches = _one_by_one(adapter.stream(body, target))
            return await anext(batches), batches
        timeouts = target.provider.timeouts
        request = adapter.build_request(body, target, stream=True)
        limit = timeouts.first_byte if budget is None else min(timeouts.first_byte, budget)
        total_at = asyncio.get_running_loop().time() + timeouts.total
        try:
            async with asyncio.timeout(limit):
                response = await self._post(target, request)
                if response.status >= 300:
                    async with response:
                        payload = await response.read()
                    raise adapter.map_error(response.status, payload, dict(response.headers))
                batches = self._batches(adapter, target, response, total_at)
                first = await anext(batches)
        except TimeoutError:
            raise _timeout("The upstream sent nothing in time.") from None
        except StopAsyncIteration:
            raise UpstreamError(502, "The upstream stream ended before any data.", code="upstream_stream_cut",
                                retryable=True) from None
        except aiohttp.ClientError as exc:
            raise _network_error(exc) from None
        except UpstreamError as exc:
            exc.retryable = exc.retryable or exc.status >= 500  # nothing was sent: try elsewhere
            raise
        _arm_idle(response, timeouts.idle)
        return first, batches

    async def _post(self, target: Target, request: UpstreamRequest, *, whole: bool = False) -> Any:
        return await self._session(target).post(request.url, data=request.body, headers=request.headers,
                                                timeout=self._timeout(target, whole))

    def _timeout(self, target: Target, whole: bool) -> aiohttp.ClientTimeout:
        """Per provider, built once. Streams get no aiohttp read timeout: theirs are ours (first
        byte, then idle once data flows); aiohttp's sock_read would also run while waiting for
        the headers, cutting slow starts."""
        key = (target.provider_name, whole)
        timeout = self._timeouts.get(key)
        if timeout is None:
            limits = target.provider.timeouts
            whole_total = min(limits.total, limits.total_json)  # `total` caps every call
            timeout = aiohttp.ClientTimeout(total=whole_total if whole else None, connect=limits.connect)
            self._timeouts[key] = timeout
        return timeout

    async def _batches(self, adapter: Any, target: Target, response: Any, total_at: float) -> Batches:
        # `total` as a timer that fails the read in progress, rather than a timeout scope around
        # the yields, which would cancel whatever the consumer awaits at that moment.
        total = asyncio.get_running_loop().call_at(
            total_at, response.content.set_exception, _timeout("The upstream stream took too long (total).",
                                                               retryable=False))
        events = SSEStream(response.content)
        finished = False
        try:
            make_parser = getattr(adapter, "stream_parser", None)
            if make_parser is not None:
                async for batch in read_batches(events, make_parser(target, text_chunks=True)):
                    yield batch
            else:
                async for chunk in adapter.parse_stream(events, target):
                    yield [chunk]
            finished = True
        except SSEError as exc:
            raise UpstreamError(502, f"The upstream stream is malformed: {exc}.",
                                code="bad_upstream_response") from None
        except TimeoutError:
            raise UpstreamError(504, "The upstream stream stalled (idle timeout).", code="upstream_timeout") from None
        except aiohttp.ClientError as exc:
            raise _network_error(exc, retryable=False) from None
        finally:
            total.cancel()
            if not finished:  # abandoned or failed: drop the connection so the upstream stops generating
                with contextlib.suppress(Exception):
                    response.close()
            elif response.content.is_eof():
                response.release()
            else:  # [DONE] came before the end of the HTTP body: read that off the relay's path
                self._spawn(_drain(response))

    def _spawn(self, coro: Any) -> None:
        task = asyncio.ensure_future(coro)
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)


async def _one_by_one(chunks: AsyncIterator[JSON]) -> Batches:
    """The noop provider's chunks as batches of one."""
    try:
        async for chunk in chunks:
            yield [chunk]
    finally:
        close = getattr(chunks, "aclose", None)
        if close is not None:
            await close()


async def _drain(response: Any) -> None:
    """Read a finished stream's HTTP body to its end (usually the chunked terminator, one packet
    behind [DONE]), so the connection goes back to the pool: releasing it with unread data would
    close it, and the next request would pay a new TCP (and TLS) handshake."""
    try:
        async with asyncio.timeout(DRAIN_S):
            while await response.content.readany():
                pass
    except Exception:
        response.close()
    else:
        response.release()


def _arm_idle(response: Any, idle: float) -> None:
    """From now on, fail the stream when the upstream sends no bytes for `idle` seconds (aiohttp's
    per-read timer, reset on every packet, so keep-alive comments count as life)."""
    connection = response.connection
    if connection is not None and connection.protocol is not None:
        connection.protocol.read_timeout = idle
        connection.protocol.start_timeout()


def _timeout(message: str, *, retryable: bool = True) -> UpstreamError:
    return UpstreamError(504, message, code="upstream_timeout", retryable=retryable)


def _network_error(exc: aiohttp.ClientError, *, retryable: bool = True) -> UpstreamError:
    if isinstance(exc, aiohttp.ServerTimeoutError):
        return _timeout("The upstream timed out.", retryable=retryable)
    if isinstance(exc, aiohttp.ClientConnectorError):
        return UpstreamError(503, "Could not connect to the upstream.", code="upstream_unreachable",
                             retryable=True)
    return UpstreamError(502, f"The upstream connection failed: {type(exc).__name__}.",
                         code="upstream_connection_error", retryable=retryable)
