"""Money is integer nano-USD (1e-9 USD) everywhere inside farebox; floats only at the JSON edge.

Prices are configured in USD per 1M tokens and kept as integer nano-USD per 1M tokens, so a
price like $0.0375/1M is exact and a cost is one integer ceiling division.
"""

from __future__ import annotations

from decimal import Decimal

NANO_PER_USD = 1_000_000_000
TOKENS_PER_PRICE_UNIT = 1_000_000


def usd_to_nano(usd: float | int | str | Decimal) -> int:
    """Convert a USD amount to nano-USD exactly (via its decimal text, never float maths)."""
    value = Decimal(str(usd)) * NANO_PER_USD
    if value != value.to_integral_value():
        raise ValueError(f"{usd} USD is finer than one nano-USD")
    return int(value)


def nano_to_usd(nano: int) -> float:
    """The float nearest nano/1e9; its shortest repr is the exact decimal (at most 9 places)."""
    return nano / NANO_PER_USD


def format_usd(nano: int) -> str:
    """Human text for messages: at least 2 and at most 9 decimals, trailing zeros trimmed."""
    text = f"{Decimal(nano) / NANO_PER_USD:.9f}".rstrip("0")
    whole, _, frac = text.partition(".")
    return f"${whole}.{frac.ljust(2, '0')}"


def token_cost(tokens: int, nano_per_million: int) -> int:
    """Cost of `tokens` at a price in nano-USD per 1M tokens, rounded up to the nano-USD."""
    if tokens <= 0 or nano_per_million <= 0:
        return 0
    return -(-tokens * nano_per_million // TOKENS_PER_PRICE_UNIT)
