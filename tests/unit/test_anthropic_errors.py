"""Anthropic error answers -> UpstreamError (status, code, retryable, retry_after)."""

from __future__ import annotations

import pytest

from tests.support.anthropic_adapter import fixture, make_provider


@pytest.mark.parametrize(
    ("status", "name", "expected"),
    [
        (400, "error_invalid_request.json", (400, "invalid_request_error", False)),
        (400, "error_prompt_too_long.json", (400, "context_length_exceeded", False)),
        (401, "error_authentication.json", (502, "upstream_auth_error", True)),
        (403, "error_permission.json", (502, "upstream_auth_error", True)),
        (404, "error_not_found.json", (502, "upstream_model_not_found", True)),
        (413, "error_request_too_large.json", (413, "request_too_large", False)),
        (429, "error_rate_limit.json", (429, "rate_limited", True)),
        (429, "error_spend_limit.json", (503, "model_unavailable", True)),
        (500, "error_api.json", (503, "model_unavailable", True)),
        (529, "error_overloaded.json", (503, "model_unavailable", True)),
    ],
)
def test_error_mapping(status: int, name: str, expected: tuple[int, str, bool]) -> None:
    error = make_provider().map_error(status, fixture(name), {})
    assert (error.status, error.code, error.retryable) == expected
    assert error.message.startswith("Anthropic: ") and len(error.message) > len("Anthropic: ")


def test_rate_limit_carries_retry_after() -> None:
    error = make_provider().map_error(429, fixture("error_rate_limit.json"), {"retry-after": "17"})
    assert error.retry_after == 17.0 and error.type == "rate_limit_error"


def test_overload_carries_retry_after_when_given() -> None:
    provider = make_provider()
    assert provider.map_error(529, fixture("error_overloaded.json"), {"retry-after": "3"}).retry_after == 3.0
    assert provider.map_error(529, fixture("error_overloaded.json"), {}).retry_after is None


def test_a_body_that_is_not_json_still_maps_by_status() -> None:
    error = make_provider().map_error(502, b"<html>Bad Gateway</html>", {})
    assert (error.status, error.retryable) == (503, True) and "Bad Gateway" in error.message
    error = make_provider().map_error(400, b"", {})
    assert (error.status, error.retryable) == (400, False)
