"""Typed access to the services `app.py` wires into the aiohttp application."""

from __future__ import annotations

from aiohttp import web

from farebox.runtime import Runtime

RUNTIME = web.AppKey("runtime", Runtime)


def runtime(request: web.Request) -> Runtime:
    return request.app[RUNTIME]

REQUEST_ID = web.RequestKey("request_id", str)  # ours: unique, used in the ledger and completion id
SHOWN_REQUEST_ID = web.RequestKey("shown_request_id", str)  # the client's x-request-id when sane
EXTRA_HEADERS = web.RequestKey("extra_headers", dict)  # headers every answer carries (rate limits)
