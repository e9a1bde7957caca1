"""Anthropic errors ({"type": "error", "error": {"type", "message"}}) -> UpstreamError.

Used for non-2xx answers and for `error` events met mid-stream (which carry no HTTP status, so
the error type decides).
"""

from __future__ import annotations

from typing import Any

import msgspec

from farebox.providers.base import UpstreamError, parse_retry_after

# Anthropic's documented error types and the status each one comes with.
STATUS_OF_TYPE = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


def map_error(status: int, body: bytes, headers: dict[str, str]) -> UpstreamError:
    kind, message, details = _read(body)
    text = f"Anthropic: {message}" if message else f"Anthropic returned HTTP {status}"
    if status == 413 or kind == "request_too_large":
        return UpstreamError(413, text, code="request_too_large", type="invalid_request_error")
    if status == 429 and details.get("error_code") == "enforced_spend_limit_reached":
        # The operator's account is out of money until next month: no point waiting, try elsewhere.
        return UpstreamError(503, text, code="model_unavailable", retryable=True)
    if status == 429:
        return UpstreamError(429, text, code="rate_limited", type="rate_limit_error", retryable=True,
                             retry_after=parse_retry_after(headers))
    if status in (401, 402, 403):
        # The operator's key or account is wrong, not the client's request.
        return UpstreamError(502, text, code="upstream_auth_error", retryable=True)
    if status == 404:
        return UpstreamError(502, text, code="upstream_model_not_found", retryable=True)
    if status >= 500 or status in (408, 409):
        return UpstreamError(503, text, code="model_unavailable", retryable=True,
                             retry_after=parse_retry_after(headers))
    code = "context_length_exceeded" if "prompt is too long" in message else "invalid_request_error"
    return UpstreamError(400, text, code=code, type="invalid_request_error")


def stream_error(data: bytes) -> UpstreamError:
    """The error an `error` event carries; its type stands in for the missing status."""
    kind, _, _ = _read(data)
    return map_error(STATUS_OF_TYPE.get(kind, 500), data, {})


def _read(body: bytes) -> tuple[str, str, dict[str, Any]]:
    """(error type, message, details) from an error body, tolerating non-JSON (proxies, HTML pages)."""
    try:
        doc = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return "", body[:200].decode("utf-8", "replace").strip(), {}
    error = doc.get("error") if isinstance(doc, dict) else None
    if not isinstance(error, dict):
        return "", "", {}
    details = error.get("details")
    return (str(error.get("type") or ""), str(error.get("message") or ""),
            details if isinstance(details, dict) else {})
