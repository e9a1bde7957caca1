"""Holds: reserve a request's worst-case cost before any upstream call (402 when it can't be
covered), grow it when failover moves to a pricier model, and release it after settlement."""

from __future__ import annotations

from farebox.billing.wallet import Wallet
from farebox.errors import ContextLengthExceeded, ServiceUnavailable
from farebox.pipeline.call import Call
from farebox.routing.catalog import CatalogModel


def worst_case_cost(call: Call, model: CatalogModel) -> int:
    if model.rates is None:
        raise ServiceUnavailable(f"No price is known yet for `{model.id}`; try again shortly.")
    output = call.needs.output_for(model.config.max_output)
    return model.rates.estimate(call.needs.prompt_tokens, output)


def check_context(call: Call, model: CatalogModel) -> None:
    if call.needs.prompt_tokens > model.config.context:
        raise ContextLengthExceeded(
            f"This model's maximum context length is {model.config.context} tokens; your messages are "
            f"about {call.needs.prompt_tokens} tokens.", param="messages")


async def reserve(wallet: Wallet, call: Call, model: CatalogModel) -> None:
    """Hold enough for `model`; raises InsufficientCredits (402) when the balance can't cover it."""
    needed = worst_case_cost(call, model)
    if needed > call.hold_nano:
        await wallet.reserve(call.principal.account_id, needed - call.hold_nano, call.request_id)
        call.hold_nano = needed


async def release(wallet: Wallet, call: Call) -> None:
    if call.hold_nano:
        call.hold_nano = 0
        await wallet.release(call.principal.account_id, call.request_id)
