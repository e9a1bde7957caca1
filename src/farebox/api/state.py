"""Typed access to the services `app.py` wires into the aiohttp application."""

from __future__ import annotations

from aiohttp import web

from farebox.runtime import Runtime

RUNTIME = web.AppKey("runtime", Runtime)


def runtime(request: web.Request) -> Runtime:
    return request.app[RUNTIME]
