"""The pieces of the rate gate that need no server: the token bucket's shape and the validation
of operator overrides."""

from __future__ import annotations

import pytest

from farebox.pipeline.rate_limit import token_limit
from farebox.ratelimit.gcra import check_us
from farebox.services.operator import OperatorError, _limit_values


@pytest.mark.parametrize("tpm", [1, 7, 1000, 40_000, 2_000_000])
def test_token_bucket_holds_one_minute_of_tokens(tpm: int) -> None:
    limit = token_limit(tpm)
    now = 1_700_000_000_000_000
    assert limit.max_cost == tpm
    assert check_us(None, now, limit, tpm)[0].allowed
    assert not check_us(None, now, limit, tpm + 1)[0].allowed
    decision, tat = check_us(None, now, limit, tpm)
    assert decision.remaining == 0
    # A minute later the bucket is full again (to within the floored emission interval).
    later = now + 60_000_000
    assert check_us(tat, later, limit, tpm)[0].allowed


@pytest.mark.parametrize(("rpm", "burst", "clear", "message"), [
    (None, None, False, "give --rpm"),
    (0, None, False, "positive"),
    (None, -5, False, "positive"),
    (100, 50, False, "at least rpm"),
    (10, None, True, "not both"),
])
def test_override_validation(rpm: int | None, burst: int | None, clear: bool, message: str) -> None:
    with pytest.raises(OperatorError, match=message):
        _limit_values(rpm, burst, clear)


def test_override_values() -> None:
    assert _limit_values(10, None, False) == {"rpm": 10}
    assert _limit_values(None, 90, False) == {"burst_rpm": 90}
    assert _limit_values(None, None, True) == {"rpm": None, "burst_rpm": None}
