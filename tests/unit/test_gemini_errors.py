"""Gemini error envelopes -> UpstreamError (status, code, retryable, retry_after)."""

from __future__ import annotations

import pytest

from tests.support.gemini_adapter import fixture_bytes, provider


@pytest.mark.parametrize(
    ("fixture", "http", "status", "code", "retryable"),
    [
        ("error_invalid_argument.json", 400, 400, "invalid_request_error", False),
        ("error_token_limit.json", 400, 400, "context_length_exceeded", False),
        ("error_api_key_invalid.json", 400, 502, "upstream_auth_error", True),
        ("error_failed_precondition.json", 400, 502, "upstream_error", True),
        ("error_permission_denied.json", 403, 502, "upstream_auth_error", True),
        ("error_not_found.json", 404, 502, "upstream_model_not_found", True),
        ("error_quota.json", 429, 429, "rate_limited", True),
        ("error_internal.json", 500, 503, "model_unavailable", True),
        ("error_unavailable.json", 503, 503, "model_unavailable", True),
        ("error_deadline.json", 504, 503, "model_unavailable", True),
    ],
)
def test_error_fixtures(fixture: str, http: int, status: int, code: str, retryable: bool) -> None:
    error = provider().map_error(http, fixture_bytes(fixture), {})
    assert (error.status, error.code, error.retryable) == (status, code, retryable)
    assert error.message and error.message != f"upstream answered HTTP {http}"
    if status == 400:
        assert error.type == "invalid_request_error"


def test_retry_after_header_wins_over_retry_info() -> None:
    p = provider()
    assert p.map_error(429, fixture_bytes("error_quota.json"), {}).retry_after == 22.0
    assert p.map_error(429, fixture_bytes("error_quota.json"), {"retry-after": "3"}).retry_after == 3.0
    assert p.map_error(429, fixture_bytes("error_quota.json"), {}).type == "rate_limit_error"


def test_non_json_and_array_wrapped_bodies() -> None:
    p = provider()
    error = p.map_error(502, b"<html><body>Bad Gateway</body></html>", {})
    assert (error.status, error.code, error.retryable) == (503, "model_unavailable", True)
    assert "Bad Gateway" in error.message
    wrapped = b'[{"error": {"code": 429, "message": "Resource exhausted.", "status": "RESOURCE_EXHAUSTED"}}]'
    error = p.map_error(429, wrapped, {})
    assert (error.status, error.message) == (429, "Resource exhausted.")
    assert p.map_error(401, b"", {}).code == "upstream_auth_error"
    assert p.map_error(413, b"", {}).status == 413


def test_odd_client_status_is_not_retried() -> None:
    error = provider().map_error(409, b'{"error": {"code": 409, "message": "x", "status": "ABORTED"}}', {})
    assert error.status == 502 and error.retryable  # 409 is a retryable status
    error = provider().map_error(405, b"{}", {})
    assert error.status == 502 and not error.retryable
