"""Settlement: the exact cost from the usage, one ledger row per request, committed (group
commit) or spooled for a retry before the client sees the end of the response; the hold is
released once the row is in the database. A cost above the hold is charged in full (an overrun,
recorded and logged), never capped."""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass
from typing import Any

import msgspec

from farebox.billing.ledger import Charge, LedgerWriter
from farebox.billing.pricing import Usage
from farebox.billing.wallet.base import Wallet
from farebox.errors import ServiceUnavailable
from farebox.lifecycle import TaskSet
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
    """Charge `usage` for the call, in full; returns the amount charged. Returns once the row is
    committed or durably spooled for a retry (the response may then go out); raises
    ServiceUnavailable only when it is neither (the row is still retried in memory). The hold is
    released exactly once, after the row is in the database."""
    assert call.served_model is not None and call.served_model.rates is not None and call.target is not None
    cost = call.served_model.rates.cost(usage)
    overrun = await cover(wallet, call, cost)
    call.cost_nano, call.outcome, call.settled = cost, outcome, True
    call.prompt_tokens, call.completion_tokens = usage.prompt_tokens, usage.completion_tokens
    row = {
        "created_at": time.time(), "account_id": call.principal.account_id, "kind": "charge",
        "amount_nano": -cost, "request_id": call.request_id, "key_id": call.principal.key_id,
        "model_requested": call.requested_model, "model_used": call.served_model.id,
        "provider": call.target.provider_name, "deployment": call.target.deployment,
        "prompt_tokens": usage.prompt_tokens, "cached_tokens": usage.cached_tokens,
        "cache_write_tokens": usage.cache_write_tokens, "completion_tokens": usage.completion_tokens,
        "reasoning_tokens": usage.reasoning_tokens, "latency_ms": call.elapsed_ms(),
        "ttft_ms": call.elapsed_ms(call.first_byte) if call.first_byte else None, "outcome": outcome,
        "attempts": msgspec.json.encode(call.attempts).decode() if call.attempts else None,
        "idempotency_key": None, "overrun_nano": overrun or None,
        "note": f"overrun: exceeded the hold by {format_usd(overrun)}" if overrun else None,
    }
    try:
        charge = ledger.submit(row)
    except BaseException:
        await release(wallet, call)
        raise
    try:
        committed = await asyncio.shield(charge.recorded)
    except asyncio.CancelledError:  # the client went away: the row is committed all the same
        _release_when_committed(charge, wallet, call)
        charge.recorded.add_done_callback(_retrieved)  # a spool failure is logged by the ledger
        raise
    except Exception as exc:
        _release_when_committed(charge, wallet, call)
        log.error("could not record the charge for %s (kept in memory, retried): %s", call.request_id, exc)
        call.outcome = "billing_pending"
        raise ServiceUnavailable("Billing is temporarily unavailable; please retry.") from None
    if committed:
        await release(wallet, call)
    else:
        _release_when_committed(charge, wallet, call)
        call.outcome = f"{outcome}_pending"
    return cost


@dataclass
class Overruns:
    """Charges above their hold since the process started (for metrics; each is also logged)."""

    count: int = 0
    nano: int = 0


OVERRUNS = Overruns()


async def cover(wallet: Wallet, call: Call, cost: int) -> int:
    """Grow the hold to the cost as far as the account's free balance allows, and return what the
    cost still exceeds it by: the overrun, charged all the same (never capped), so the balance
    may go below zero by that much. Never raises: a wallet failure must not lose the charge."""
    if cost <= call.hold_nano:
        return 0
    account_id = call.principal.account_id
    try:
        balance, held = wallet.balance(account_id)
        extra = min(cost - call.hold_nano, max(balance - held, 0))
        if extra:
            await wallet.reserve(account_id, extra, call.request_id)
            call.hold_nano += extra
    except Exception as exc:  # 402 (raced by another settlement), or the shared wallet is down
        log.warning("could not grow the hold of %s: %s", call.request_id, exc)
    overrun = cost - call.hold_nano
    if overrun > 0:
        OVERRUNS.count += 1
        OVERRUNS.nano += overrun
        log.warning("overrun: request %s on account %s cost %s, %s above its hold; charged in full",
                    call.request_id, call.principal.account_name, format_usd(cost), format_usd(overrun))
    return max(overrun, 0)


_releasing = TaskSet()  # hold releases waiting on a commit, kept alive until they finish


def _release_when_committed(charge: Charge, wallet: Wallet, call: Call) -> None:
    """The hold stays until the row is in the database (a retry may take a while), so nothing
    else can spend that money in between."""
    charge.committed.add_done_callback(lambda _: _release_later(wallet, call))


def _retrieved(done: asyncio.Future[bool]) -> None:
    if not done.cancelled():
        done.exception()


def _release_later(wallet: Wallet, call: Call) -> None:
    _releasing.spawn(release(wallet, call))
