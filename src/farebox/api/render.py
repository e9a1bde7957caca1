"""JSON and error responses, rendered with msgspec."""

from __future__ import annotations

from typing import Any

import msgspec
from aiohttp import web

from farebox.errors import GatewayError, envelope

_encode = msgspec.json.Encoder().encode
JSON_TYPE = "application/json"


def json_response(doc: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=_encode(doc), status=status, content_type=JSON_TYPE, headers=headers)


def error_response(error: GatewayError, headers: dict[str, str] | None = None) -> web.Response:
    merged = dict(headers or {})
    merged.update(error.headers)
    return json_response(envelope(error), error.status, merged)
