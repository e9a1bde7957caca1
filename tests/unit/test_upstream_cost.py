"""An upstream's own reported cost (OpenRouter's `usage.cost`) is a floor under the charge."""

from __future__ import annotations

from typing import Any

import pytest

from farebox.billing.pricing import Rates, Usage
from farebox.config import Price

RATES = Rates.from_price(Price(input=1, output=2))  # 1000 / 2000 nano-USD per token
TOKENS: dict[str, Any] = {"prompt_tokens": 100, "completion_tokens": 10}  # 120,000 nano-USD at RATES


@pytest.mark.parametrize(("usage", "nano"), [
    ({"cost": 0.0012345678901}, 1_234_568),  # rounded up to the nano-USD
    ({"cost": 0.000000001}, 1),
    ({"cost": 1e-12}, 1),
    ({"cost": 2}, 2_000_000_000),
    ({"cost": 0.95, "is_byok": True, "cost_details": {"upstream_inference_cost": 19}}, 19_950_000_000),
    ({"cost": 0.95, "is_byok": False, "cost_details": {"upstream_inference_cost": 19}}, 950_000_000),
    ({"cost": 0.5, "is_byok": True, "cost_details": {"upstream_inference_cost": None}}, 500_000_000),
    ({}, 0), ({"cost": None}, 0), ({"cost": "0.5"}, 0), ({"cost": -1.0}, 0), ({"cost": True}, 0),
    ({"cost": float("inf")}, 0), ({"cost": float("nan")}, 0),
])
def test_usage_cost_is_read_in_nano_usd(usage: dict[str, Any], nano: int) -> None:
    assert Usage.from_openai({**TOKENS, **usage}).upstream_cost_nano == nano


def test_the_charge_is_the_higher_of_the_price_and_the_upstream_cost() -> None:
    assert RATES.cost(Usage.from_openai(TOKENS)) == 120_000
    assert RATES.cost(Usage.from_openai({**TOKENS, "cost": 0.0012345678901})) == 1_234_568
    assert RATES.cost(Usage.from_openai({**TOKENS, "cost": 0.0000001})) == 120_000  # never a discount
