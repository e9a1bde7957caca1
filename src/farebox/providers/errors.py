"""Shared mapping from an upstream's HTTP status to what the client sees."""

from __future__ import annotations

from farebox.providers.base import UpstreamError, parse_retry_after, retryable_status


def upstream_error(status: int, message: str, headers: dict[str, str], *, kind: str = "") -> UpstreamError:
    """The OpenAI-style error for an upstream failure with this status.

    4xx caused by the request pass through (not retried); the operator's own problems (bad
    upstream key, unknown upstream model) and overloads are retryable elsewhere.
    """
    retry_after = parse_retry_after(headers)
    if status in (401, 403):
        return UpstreamError(502, f"The upstream rejected the gateway's credentials: {message}",
                             code="upstream_auth_error", retryable=True)
    if status == 404:
        return UpstreamError(502, f"The upstream does not serve this model: {message}",
                             code="upstream_model_not_found", retryable=True)
    if status == 429:
        return UpstreamError(429, f"The upstream is rate limiting: {message}", code="rate_limited",
                             type="rate_limit_error", retryable=True, retry_after=retry_after)
    if status == 413:
        return UpstreamError(413, message, code="request_too_large", type="invalid_request_error")
    if retryable_status(status):
        return UpstreamError(503, f"The upstream failed ({status}{' ' + kind if kind else ''}): {message}",
                             code="model_unavailable", retryable=True, retry_after=retry_after)
    code = "context_length_exceeded" if "context" in message.lower() and "length" in message.lower() \
        else "invalid_request_error"
    return UpstreamError(status if 400 <= status < 500 else 502, message, code=code,
                         type="invalid_request_error")
