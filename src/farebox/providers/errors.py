"""Shared mapping from an upstream's HTTP status to what the client sees."""

from __future__ import annotations

import logging
import re

from farebox.providers.base import UpstreamError, parse_retry_after, retryable_status

log = logging.getLogger("farebox.upstream")

PUBLIC_MESSAGE_CHARS = 500
# What an upstream's error text may reveal about the operator's network: addresses and paths.
_REDACTIONS = (
    (re.compile(r"\b[a-z][a-z0-9+.-]*://[^\s\"'<>]+", re.IGNORECASE), "<url>"),
    (re.compile(r"\[[0-9a-f:.]+\](?::\d{1,5})?|\b(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}\b"
                r"|\b(?:[0-9a-f]{1,4}:)+:(?:[0-9a-f]{1,4}(?::[0-9a-f]{1,4})*)?", re.IGNORECASE), "<address>"),
    (re.compile(r"\b\d{1,3}(?:\.\d{1,3}){3}(?::\d{1,5})?\b"), "<address>"),
    (re.compile(r"\b(?:[a-z0-9-]+\.)*(?:localhost|[a-z0-9-]+\.(?:internal|local|lan|corp|intra|home|svc))"
                r"(?::\d{1,5})?\b", re.IGNORECASE), "<host>"),
    (re.compile(r"\b(?:[a-z0-9-]+\.)+[a-z]{2,}:\d{1,5}\b", re.IGNORECASE), "<host>"),
    (re.compile(r"(?<![\w.<])(?:/[\w.@+-]+){2,}/?"), "<path>"),
    (re.compile(r"\b[a-z]:\\[^\s\"']+", re.IGNORECASE), "<path>"),
)


def public_message(message: str, *, context: str = "") -> str:
    """An upstream's error text as the client may see it: its meaning kept, the operator's hosts,
    addresses and paths taken out (the full text goes to the operator's log)."""
    public = message
    for pattern, replacement in _REDACTIONS:
        public = pattern.sub(replacement, public)
    if len(public) > PUBLIC_MESSAGE_CHARS:
        public = public[:PUBLIC_MESSAGE_CHARS] + "..."
    if public != message:
        log.warning("upstream error shown redacted%s: %s", f" ({context})" if context else "", message[:4000])
    return public


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
