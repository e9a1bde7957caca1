"""Small translations every native adapter needs."""

from __future__ import annotations

from typing import Any

import msgspec

from farebox.providers.base import JSON


def arguments_object(arguments: Any) -> JSON:
    """A tool call's arguments as an object: native APIs want one, OpenAI sends a JSON string
    that a model may have botched. A botched one is kept as {"arguments": raw} rather than
    refused, so the conversation goes on."""
    if isinstance(arguments, dict):
        return arguments
    if not arguments:
        return {}
    try:
        value = msgspec.json.decode(arguments)
    except (msgspec.DecodeError, TypeError):
        return {"arguments": arguments}
    return value if isinstance(value, dict) else {"arguments": value}
