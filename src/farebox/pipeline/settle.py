"""Settlement: the exact cost from the usage, one ledger row per request, committed (group
commit) before the client sees the end of the response; then the hold is released."""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Any

import msgspec

from farebox.billing.ledger import LedgerWriter
from farebox.billing.pricing import Usage
from farebox.billing.wallet import Wallet
from farebox.errors import InsufficientCredits, ServiceUnavailable
from farebox.money import format_usd
from farebox.pipeline.call import Call
from farebox.pipeline.reserve import release
from farebox.tokens import estimate_text_tokens

log = logging.getLogger("farebox.settle")


def usage_or_count(call: Call, reported: dict[str, Any] | None, generated_text: str) -> Usage:
    """The upstream's usage when it sent one, else our own count of prompt and output."""
    if reported:
        usage = Usage.from_openai(reported)
        if usage.prompt_tokens or usage.completion_tokens:
            return usage
    return Usage(prompt_tokens=call.needs.prompt_tokens, completion_tokens=estimate_text_tokens(generated_text))


def completion_text(doc: dict[str, Any]) -> str:
    """Everything the model generated in a chat.completion, for counting when usage is missing."""
    parts: list[str] = []
    for choice in doc.get("choices") or []:
        message = choice.get("message") or {}
        for field in ("content", "reasoning_content"):
            if isinstance(message.get(field), str):
                parts.append(message[field])
        for call in message.get("tool_calls") or []:
            function = call.get("function") or {}
            parts.append(str(function.get("name", "")) + str(function.get("arguments", "")))
    return "".join(parts)


async def settle(ledger: LedgerWriter, wallet: Wallet, call: Call, usage: Usage, outcome: str) -> int:
    """Charge `usage` for the call; returns the amount charged. Raises ServiceUnavailable when the
    charge cannot be recorded, so the response is withheld rather than served unbilled. The hold
    is released exactly once, and only after the charge is committed (or has failed)."""
    assert call.model is not None and call.model.rates is not None and call.target is not None
    exact = call.model.rates.cost(usage)
    cost = await cover(wallet, call, exact)
    call.cost_nano, call.outcome, call.settled = cost, outcome, True
    call.prompt_tokens, call.completion_tokens = usage.prompt_tokens, usage.completion_tokens
    row = {
        "created_at": time.time(), "account_id": call.principal.account_id, "kind": "charge",
        "amount_nano": -cost, "request_id": call.request_id, "key_id": call.principal.key_id,
        "model_requested": call.requested_model, "model_used": call.model.id,
        "provider": call.target.provider_name, "deployment": call.target.deployment,
        "prompt_tokens": usage.prompt_tokens, "cached_tokens": usage.cached_tokens,
        "cache_write_tokens": usage.cache_write_tokens, "completion_tokens": usage.completion_tokens,
        "reasoning_tokens": usage.reasoning_tokens, "latency_ms": call.elapsed_ms(),
        "ttft_ms": call.elapsed_ms(call.first_byte) if call.first_byte else None, "outcome": outcome,
        "attempts": msgspec.json.encode(call.attempts).decode() if call.attempts else None,
        "idempotency_key": None,
        "note": None if cost == exact else f"capped at the available balance; exact cost {format_usd(exact)}",
    }
    try:
        committed = ledger.submit(row)
    except BaseException:
        await release(wallet, call)
        raise
    try:
        await asyncio.shield(committed)
    except asyncio.CancelledError:
        # The client went away while the row was committing: it still commits, and the money stays
        # held until then, so no other request can spend it in between.
        committed.add_done_callback(lambda done: _release_after(done, wallet, call))
        raise
    except Exception as exc:
        log.error("could not record the charge for %s: %s", call.request_id, exc)
        call.outcome = "billing_failed"
        await release(wallet, call)
        raise ServiceUnavailable("Billing is temporarily unavailable; the request was not charged. "
                                 "Please retry.") from None
    await release(wallet, call)
    return cost


async def cover(wallet: Wallet, call: Call, cost: int) -> int:
    """What to charge: the exact cost, unless it exceeds the hold by more than the account's free
    balance (the prompt estimate can be low). The hold grows to the charge first, so concurrent
    settlements can never take the balance below zero."""
    if cost <= call.hold_nano:
        return cost
    balance, held = wallet.balance(call.principal.account_id)
    extra = min(cost - call.hold_nano, max(balance - held, 0))
    if extra:
        try:
            await wallet.reserve(call.principal.account_id, extra, call.request_id)
            call.hold_nano += extra
        except InsufficientCredits:
            pass
    return min(cost, call.hold_nano)


_releasing: set[asyncio.Task[None]] = set()  # strong references until they finish


def _release_after(done: asyncio.Future[None], wallet: Wallet, call: Call) -> None:
    if not done.cancelled() and done.exception() is not None:
        log.error("could not record the charge for %s: %s", call.request_id, done.exception())
    task = asyncio.ensure_future(release(wallet, call))
    _releasing.add(task)
    task.add_done_callback(_releasing.discard)
