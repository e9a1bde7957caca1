"""Sending one attempt to one deployment: the adapter's translation, sent through the provider's
transport (a pooled aiohttp session per provider, or the in-process one of `kind: noop`), and
timeouts. Network failures become retryable UpstreamErrors here, so the caller only ever handles
one error type. Every upstream HTTP request goes through here, the price tables' too (get_json)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator, Coroutine, Mapping
from typing import Any

import aiohttp
import msgspec

from farebox.pipeline.transport import SessionTransport
from farebox.protocol.sse import SSEError, SSEStream
from farebox.providers.base import JSON, Provider, StreamChunk, Target, UpstreamError
from farebox.providers.registry import in_process_transport
from farebox.providers.transport import Transport, UpstreamResponse

Batches = AsyncGenerator[list[StreamChunk], None]
"""A stream's chunks, in batches: every chunk one network read made available (never empty)."""


DRAIN_S = 2.0  # how long a finished stream's leftover body may take before the connection is dropped


class Dispatcher:
    def __init__(self, adapters: Mapping[str, Provider]) -> None:
        self.adapters = adapters
        self.transports: dict[str, Transport] = {
            name: in_process_transport(a.config) or SessionTransport(a.config) for name, a in adapters.items()}
        self._draining: set[asyncio.Task[None]] = set()

    async def close(self) -> None:
        for task in self._draining:
            task.cancel()
        await asyncio.gather(*self._draining, return_exceptions=True)
        for transport in self.transports.values():
            await transport.close()

    async def complete(self, target: Target, body: JSON) -> JSON:
        """One non-streaming attempt. The upstream sends nothing until it has generated the whole
        reply, so only `connect` and `total` apply (a first-byte limit would cut long replies)."""
        adapter = self.adapters[target.provider_name]
        request = adapter.build_request(body, target, stream=False)
        try:
            response = await self.transports[target.provider_name].send(request, whole=True)
            async with response:
                payload = await response.read()
                if response.status >= 300:
                    raise adapter.map_error(response.status, payload, dict(response.headers))
        except TimeoutError:
            raise _timeout("The upstream did not answer in time.") from None
        except aiohttp.ClientError as exc:
            raise _network_error(exc) from None
        return adapter.parse_response(payload, target)

    async def get_json(self, provider: str, path: str) -> Any:
        """GET one of the upstream's own paths (e.g. `/models`) with the provider's auth, over its
        pooled session, within its `first_byte` timeout; the decoded JSON. Any failure raises an
        UpstreamError."""
        request = self.adapters[provider].get_request(path)
        try:
            async with asyncio.timeout(self.adapters[provider].config.timeouts.first_byte):
                response = await self.transports[provider].send(request, whole=True, method="GET")
                async with response:
                    payload = await response.read()
        except TimeoutError:
            raise _timeout("The upstream did not answer in time.") from None
        except aiohttp.ClientError as exc:
            raise _network_error(exc) from None
        if response.status != 200:
            raise UpstreamError(502, f"HTTP {response.status}")
        try:
            return msgspec.json.decode(payload)
        except msgspec.DecodeError:
            raise UpstreamError(502, "The upstream sent a response that is not JSON.",
                                code="bad_upstream_response") from None

    async def open_stream(self, target: Target, body: JSON, *,
                          budget: float | None = None) -> tuple[list[StreamChunk], Batches]:
        """Open a stream and read its first batch of chunks within `first_byte` (or `budget`, if
        shorter). Every failure up to there raises a retryable UpstreamError (nothing reached the
        client yet); later ones raise from the returned batches: `idle` seconds without data, or
        past `total` since the request began."""
        adapter = self.adapters[target.provider_name]
        timeouts = target.provider.timeouts
        request = adapter.build_request(body, target, stream=True)
        limit = timeouts.first_byte if budget is None else min(timeouts.first_byte, budget)
        total_at = asyncio.get_running_loop().time() + timeouts.total
        try:
            async with asyncio.timeout(limit):
                response = await self.transports[target.provider_name].send(request, whole=False)
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

    async def _batches(self, adapter: Provider, target: Target, response: UpstreamResponse,
                       total_at: float) -> Batches:
        # `total` as a timer that fails the read in progress, rather than a timeout scope around
        # the yields, which would cancel whatever the consumer awaits at that moment.
        total = asyncio.get_running_loop().call_at(
            total_at, response.content.set_exception, _timeout("The upstream stream took too long (total).",
                                                               retryable=False))
        events = SSEStream(response.content)
        finished = False
        try:
            async for batch in adapter.stream_batches(events, target):
                yield batch
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

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        task = asyncio.ensure_future(coro)
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)


async def _drain(response: UpstreamResponse) -> None:
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


def _arm_idle(response: UpstreamResponse, idle: float) -> None:
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
