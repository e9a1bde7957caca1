"""The chat pipeline, stage by stage: needs -> resolve -> rate limit -> reserve -> route and
dispatch (with failover) -> settle. `api/v1/chat.py` renders what this returns."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable
from dataclasses import dataclass
from typing import TypeVar

from farebox.accounts.directory import Principal
from farebox.billing.ledger import LedgerWriter
from farebox.billing.pricing import Usage
from farebox.billing.wallet.base import Wallet
from farebox.config import Config
from farebox.errors import (
    GatewayError,
    ServiceUnavailable,
)
from farebox.lifecycle import TaskSet
from farebox.logs import access_log
from farebox.pipeline.call import Call
from farebox.pipeline.dispatch import Batches, Dispatcher
from farebox.pipeline.failover import Attempt, Failover
from farebox.pipeline.rate_limit import RateGate
from farebox.pipeline.relay import StreamRelay, error_frame
from farebox.pipeline.reserve import check_context, release, reserve
from farebox.pipeline.resolve import resolve
from farebox.pipeline.settle import completion_text, settle, usage_or_count
from farebox.protocol.openai import normalize_completion
from farebox.protocol.sse import DONE_FRAME
from farebox.providers.base import JSON, StreamChunk, Target, UpstreamError
from farebox.providers.params import dropped_params, note_answering_model
from farebox.routing.catalog import Catalog, CatalogModel
from farebox.routing.health import Health
from farebox.routing.needs import Needs, request_needs

log = logging.getLogger("farebox.chat")
T = TypeVar("T")


@dataclass
class OpenStream:
    first: list[StreamChunk]  # the first batch of chunks, read before anything reached the client
    batches: Batches


class ChatService:
    def __init__(self, *, config: Config, catalog: Catalog, health: Health, dispatcher: Dispatcher,
                 wallet: Wallet, ledger: LedgerWriter, rate_gate: RateGate) -> None:
        self.config = config
        self.catalog = catalog
        self.health = health
        self.dispatcher = dispatcher
        self.wallet = wallet
        self.ledger = ledger
        self.rate_gate = rate_gate
        self._background = TaskSet()
        self.failover = Failover(config.failover, health)
        self.store_down: Callable[[], bool] = lambda: False  # set by the runtime: the database is unreachable

    async def admit(self, principal: Principal, body: JSON, request_id: str,
                    headers: dict[str, str] | None = None, *, needs: Needs | None = None) -> Call:
        """Resolve, token-limit and reserve: everything that may refuse the request up front (the
        request count was checked by the handler, right after authentication). The token limit's
        headers go into `headers`, which the handler puts on every answer."""
        if self.store_down():  # it could not be billed: refuse before spending upstream tokens
            raise ServiceUnavailable("Billing is temporarily unavailable; please retry shortly.")
        if self.ledger.has_pending(principal.account_id):  # its balance is not known until they commit
            raise ServiceUnavailable("An earlier charge on this account is still being recorded; "
                                     "please retry shortly.")
        stream = bool(body.get("stream"))
        options = body.get("stream_options") or {}
        call = Call(request_id=request_id, principal=principal, body=body, requested_model=body["model"],
                    stream=stream, include_usage=bool(options.get("include_usage")),
                    needs=needs or request_needs(body))
        call.candidates = resolve(self.catalog, self.health, principal, call.requested_model, call.needs)
        first = call.candidates[0]
        check_context(call, first)
        tokens = call.needs.prompt_tokens + call.needs.output_for(first.config.max_output)
        await self.rate_gate.admit_tokens(principal, tokens, {} if headers is None else headers)
        await reserve(self.wallet, call, first)
        return call

    # -- non-streaming ------------------------------------------------------------------------
    async def complete(self, call: Call) -> JSON:
        try:
            try:
                doc = await self._with_failover(call, lambda target, _: self._sent(
                    call, target, self.dispatcher.complete(target, call.body)))
            except asyncio.CancelledError:
                self._left_unanswered(call)
                raise
            assert call.target is not None
            note_answering_model(call.target, doc.get("model"))
            normalize_completion(doc, id=call.completion_id, model=call.requested_model, created=call.created)
            call.first_byte = time.perf_counter()
            usage = usage_or_count(call, doc.get("usage"), completion_text(doc))
            cost = await settle(self.ledger, self.wallet, call, usage, "ok")
        finally:
            if not call.settled:
                await release(self.wallet, call)
        assert call.served_model is not None
        doc["usage"] = usage.to_openai(call.served_model.id, cost)
        return doc

    # -- streaming ----------------------------------------------------------------------------
    async def open_stream(self, call: Call) -> OpenStream:
        """Connect and read the first chunk, failing over while nothing was sent to the client."""
        try:
            return await self._with_failover(call, lambda target, budget: self._sent(
                call, target, self._first_chunk(target, call, budget)))
        except asyncio.CancelledError:
            self._left_unanswered(call)
            raise
        except BaseException:
            await release(self.wallet, call)
            raise

    async def _first_chunk(self, target: Target, call: Call, budget: float) -> OpenStream:
        first, batches = await self.dispatcher.open_stream(target, call.body, budget=budget)
        note_answering_model(target, next((c.get("model") for c in first if isinstance(c, dict)), None))
        return OpenStream(first, batches)

    @staticmethod
    def dropped_params(call: Call) -> list[str]:
        """The request's fields the deployment that answered never received (sorted), for the
        `x-farebox-dropped-params` header."""
        return [] if call.target is None else dropped_params(call.body, call.target)

    @staticmethod
    async def _sent(call: Call, target: Target, attempt: Awaitable[T]) -> T:
        """One attempt, noting the deployment that has the request while it works on it."""
        call.upstream = target
        try:
            result = await attempt
        except asyncio.CancelledError:  # the client left: the deployment still has the request
            raise
        except BaseException:
            call.upstream = None
            raise
        call.upstream = None
        return result

    def _left_unanswered(self, call: Call) -> None:
        """The client left before the first byte. If a deployment already had the request, it
        processed the prompt: charge that (`abandoned`); otherwise just give the hold back."""
        target = call.upstream
        model = next((m for m in call.candidates if target is not None and m.id == target.model_id), None)
        if target is None or model is None or model.rates is None:
            self._background.spawn(release(self.wallet, call))
            return
        call.served_model, call.target, call.settled = model, target, True  # settled: keep the hold for it
        self._background.spawn(self._settle_abandoned(call, Usage(prompt_tokens=call.needs.prompt_tokens)))

    async def relay(self, call: Call, opened: OpenStream) -> AsyncGenerator[bytes, None]:
        """The SSE frames for the client, one blob per upstream read (a batch of chunks). The
        charge is committed before the last frames. The first blob may be empty; callers take
        it before sending headers, so every exit runs `finally`."""
        relay = StreamRelay(completion_id=call.completion_id, model=call.requested_model, created=call.created,
                            include_usage=call.include_usage)
        finished = False
        try:
            first = relay.frames(opened.first)
            call.first_byte = time.perf_counter()
            yield first  # always (even b""): once started, closing the relay settles or releases
            try:
                async for batch in opened.batches:
                    frames = relay.frames(batch)
                    if frames:
                        yield frames
            except UpstreamError as exc:
                finished = True
                yield await self._end_after_failure(call, relay, exc)
                return
            finished = True
            usage = usage_or_count(call, relay.usage, relay.generated_text())
            try:
                cost = await settle(self.ledger, self.wallet, call, usage, "ok")
            except ServiceUnavailable as exc:
                yield error_frame(exc) + DONE_FRAME
                return
            assert call.served_model is not None
            yield relay.closing_frames(usage.to_openai(call.served_model.id, cost)) + DONE_FRAME
        finally:
            with contextlib.suppress(Exception):
                await opened.batches.aclose()
            if not finished and not call.settled:  # the client went away mid-stream
                usage = usage_or_count(call, relay.usage, relay.generated_text())
                self._background.spawn(self._settle_abandoned(call, usage))

    async def _end_after_failure(self, call: Call, relay: StreamRelay, exc: UpstreamError) -> bytes:
        """An upstream failure after the first byte: bill what was delivered, then an error event."""
        if call.target is not None:
            self.health.record_failure(call.target.deployment)
        usage = usage_or_count(call, relay.usage, relay.generated_text())
        with contextlib.suppress(ServiceUnavailable):
            await settle(self.ledger, self.wallet, call, usage, "stream_error")
        return relay.flush_held() + error_frame(exc) + DONE_FRAME

    async def _settle_abandoned(self, call: Call, usage: Usage) -> None:
        try:
            await settle(self.ledger, self.wallet, call, usage, "abandoned")
        except ServiceUnavailable:
            pass
        finally:
            log_call(call, 499)

    async def drain(self) -> None:
        """Wait for background settlements (at shutdown)."""
        await self._background.wait()

    # -- failover -----------------------------------------------------------------------------
    async def _with_failover(self, call: Call, attempt: Attempt[T]) -> T:
        return await self.failover.run(call, attempt, lambda model: self._can_afford(call, model))

    async def _can_afford(self, call: Call, model: CatalogModel) -> bool:
        try:
            check_context(call, model)
            await reserve(self.wallet, call, model)
        except GatewayError as exc:  # 402 (a pricier model), context: skip this candidate
            call.attempts.append({"model": model.id, "error": type(exc).__name__})
            return False
        return True


def log_call(call: Call | None, status: int, *, request_id: str = "", key_prefix: str = "",
             model: str = "") -> None:
    """One structured line per request. Never prompts, completions or keys."""
    if not access_log.enabled:
        return
    if call is None:
        access_log.line({"request_id": request_id, "key": key_prefix, "model": model, "status": status})
        return
    access_log.line({
        "request_id": call.request_id, "key": call.principal.key_prefix, "account": call.principal.account_name,
        "model": call.requested_model, "model_used": call.model_used,
        "deployment": call.target.deployment if call.target else None, "status": status,
        "stream": call.stream, "prompt_tokens": call.prompt_tokens, "completion_tokens": call.completion_tokens,
        "cost_usd": None if call.cost_nano is None else call.cost_nano / 1e9,
        "latency_ms": call.elapsed_ms(), "outcome": call.outcome, "attempts": len(call.attempts),
        "tried": call.attempts or None})
