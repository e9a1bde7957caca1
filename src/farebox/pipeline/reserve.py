"""Holds: reserve a request's worst-case cost before any upstream call (402 when it can't be
covered), grow it when failover moves to a pricier model, and release it after settlement.

The output part of the worst case is what the upstream request allows, as the adapters build
it (providers/allowance.py): the limit actually sent times the choices, thinking included, the
largest over every deployment of the model, since failover may send the request to any of them.
"""

from __future__ import annotations

from farebox.billing.wallet.base import Wallet
from farebox.errors import ContextLengthExceeded, ServiceUnavailable
from farebox.pipeline.call import Call
from farebox.providers.allowance import output_allowance
from farebox.routing.catalog import CatalogModel


def held_output(call: Call, model: CatalogModel) -> int:
    """The output tokens any deployment of `model` may bill for this request."""
    if not model.targets:
        return call.needs.output_for(model.config.max_output)
    return max(output_allowance(call.body, target) for target in model.targets)


def worst_case_cost(call: Call, model: CatalogModel) -> int:
    if model.rates is None:
        raise ServiceUnavailable(f"No price is known yet for `{model.id}`; try again shortly.")
    return model.rates.estimate(prompt_bound(call), held_output(call, model))


def prompt_bound(call: Call) -> int:
    # The bound no text can steer low (farebox.tokens), not the calibrated estimate.
    return max(call.needs.prompt_upper, call.needs.prompt_tokens)


def check_context(call: Call, model: CatalogModel) -> None:
    """On the calibrated estimate, as smart-route's filter is: the bound runs ~4x above ordinary
    text and would refuse honest long prompts. A text crafted to fool the estimate gets past
    this check, and is then refused by the upstream or served and charged in full (the hold is
    on the bound)."""
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
