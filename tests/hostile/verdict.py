"""What every answer to a hostile request must be: under 500, and an error in OpenAI's envelope."""

from __future__ import annotations

import json

from tests.spec import validate

ENVELOPE_KEYS = {"message", "type", "param", "code"}


def fault(status: int, content_type: str, body: bytes) -> str | None:
    """Why this answer is wrong, or None: a 5xx, or an error that is not exactly the envelope."""
    if status >= 500:
        return f"{status}: {body[:300]!r}"
    if status < 400:
        return None
    if not content_type.startswith("application/json"):
        return f"{status} with Content-Type {content_type!r}: {body[:200]!r}"
    try:
        doc = json.loads(body)
    except ValueError:
        return f"{status} body is not JSON: {body[:200]!r}"
    error = doc.get("error") if isinstance(doc, dict) else None
    if not isinstance(error, dict) or set(error) != ENVELOPE_KEYS:
        return f"{status} not the envelope: {body[:300]!r}"
    errors = validate(doc, "ErrorResponse")
    return f"{status} invalid ErrorResponse: {errors[:3]}" if errors else None
