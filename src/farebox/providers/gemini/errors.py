"""Gemini's error envelope {"error": {"code", "message", "status", "details"}} -> UpstreamError.

The gRPC-style `status` string decides, the HTTP status is the fallback. Two Gemini quirks:
a bad API key is a 400 INVALID_ARGUMENT with ErrorInfo reason API_KEY_INVALID (the operator's
fault, not the client's), and FAILED_PRECONDITION means the Google project cannot serve here
(free tier not offered in this region, billing off): another deployment may well succeed.
"""

from __future__ import annotations

from typing import Any

import msgspec

from farebox.protocol.gemini import ErrorDetail, ErrorEnvelope
from farebox.providers.base import UpstreamError, parse_retry_after, retryable_status

_AUTH_STATUSES = frozenset({"PERMISSION_DENIED", "UNAUTHENTICATED"})
_AUTH_REASONS = frozenset({"API_KEY_INVALID", "API_KEY_EXPIRED", "API_KEY_SERVICE_BLOCKED"})
_OVERLOAD_STATUSES = frozenset({"INTERNAL", "UNAVAILABLE", "DEADLINE_EXCEEDED", "CANCELLED", "UNKNOWN"})
_CLIENT_STATUSES = frozenset({"INVALID_ARGUMENT", "OUT_OF_RANGE"})
_envelope_decoder: msgspec.json.Decoder[ErrorEnvelope | list[ErrorEnvelope]] = msgspec.json.Decoder(
    ErrorEnvelope | list[ErrorEnvelope]
)


def map_error(status: int, body: bytes, headers: dict[str, str]) -> UpstreamError:
    detail = _decode(body)
    if detail is None:
        text = body[:200].decode("utf-8", "replace").strip()
        detail = ErrorDetail(code=status, message=text or f"upstream answered HTTP {status}")
    retry_after = parse_retry_after(headers)
    return classify(status, detail, retry_after)


def classify(status: int, detail: ErrorDetail, retry_after: float | None = None) -> UpstreamError:
    grpc = detail.status
    message = detail.message or f"upstream answered HTTP {status}"
    if grpc in _AUTH_STATUSES or status in (401, 403) or _reasons(detail) & _AUTH_REASONS:
        return UpstreamError(502, message, code="upstream_auth_error", retryable=True)
    if grpc == "FAILED_PRECONDITION":
        return UpstreamError(502, message, code="upstream_error", retryable=True)
    if grpc == "RESOURCE_EXHAUSTED" or status == 429:
        return UpstreamError(429, message, code="rate_limited", type="rate_limit_error", retryable=True,
                             retry_after=retry_after if retry_after is not None else _retry_delay(detail))
    if grpc == "NOT_FOUND" or status == 404:
        return UpstreamError(502, message, code="upstream_model_not_found", retryable=True)
    if status == 413:
        return UpstreamError(413, message, code="request_too_large", type="invalid_request_error")
    if grpc in _CLIENT_STATUSES or status == 400:
        code = "context_length_exceeded" if "exceeds the maximum number of tokens" in message else \
            "invalid_request_error"
        return UpstreamError(400, message, code=code, type="invalid_request_error")
    if grpc in _OVERLOAD_STATUSES or status >= 500:
        return UpstreamError(503, message, code="model_unavailable", retryable=True, retry_after=retry_after)
    return UpstreamError(502, message, code="upstream_error", retryable=retryable_status(status))


def _decode(body: bytes) -> ErrorDetail | None:
    try:
        envelope = _envelope_decoder.decode(body)
    except msgspec.DecodeError:
        return None
    if isinstance(envelope, list):  # the non-SSE stream endpoint wraps errors in an array
        return envelope[0].error if envelope else None
    return envelope.error


def _reasons(detail: ErrorDetail) -> set[str]:
    return {str(d.get("reason")) for d in detail.details if isinstance(d, dict) and d.get("reason")}


def _retry_delay(detail: ErrorDetail) -> float | None:
    """google.rpc.RetryInfo's retryDelay, a Duration string such as "22s" or "10.68s"."""
    for item in detail.details:
        delay: Any = item.get("retryDelay") if isinstance(item, dict) else None
        if isinstance(delay, str) and delay.endswith("s"):
            try:
                return max(0.0, float(delay[:-1]))
            except ValueError:
                return None
    return None
