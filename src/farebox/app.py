"""Composition root: create_app(config) wires everything; no logic lives here."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

from aiohttp import web

from farebox.api import health
from farebox.api.admin import routes as admin_routes
from farebox.api.drain import InFlight
from farebox.api.middleware import envelope_middleware, plain_server_header
from farebox.api.state import RUNTIME
from farebox.api.v1 import account, chat, models
from farebox.api.v1.chat_body import LARGE_BODIES, READ_LIMIT
from farebox.config import Config
from farebox.runtime import Runtime, build_runtime


def create_app(config: Config, *, runtime: Runtime | None = None, source: str = "config") -> web.Application:
    """The gateway: the customer API, health, and the admin API unless `admin_listen` moves it
    to an app of its own (create_admin_app). This app starts and stops the runtime."""
    rt = runtime or build_runtime(config, source=source)
    in_flight = InFlight(config.listen.shutdown_grace_s)  # outermost: it sees every request
    app = _base_app(config, rt, [in_flight.middleware, envelope_middleware])
    app[LARGE_BODIES] = asyncio.Semaphore(1)
    app[READ_LIMIT] = config.limits.read_limit(config.models)
    app.router.add_post("/v1/chat/completions", chat.chat_completions)
    app.router.add_get("/v1/models", models.list_models)
    app.router.add_get("/v1/models/{model:.+}", models.get_model)
    app.router.add_get("/v1/model-metadata", models.model_metadata_list)
    app.router.add_get("/v1/usage", account.usage)
    app.router.add_get("/v1/balance", account.balance)
    app.router.add_get("/health", health.health)
    app.router.add_get("/ready", health.ready)
    if config.admin_listen is None:
        admin_routes.register(app)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        await rt.start()
        yield
        await rt.stop()

    # On stop: sockets closed, then in-flight requests drained (cancelled after the grace), then
    # the runtime stops (it waits for their settlements and commits the ledger).
    app.on_shutdown.append(in_flight.on_shutdown)
    app.cleanup_ctx.append(lifecycle)
    return app


def create_admin_app(config: Config, runtime: Runtime) -> web.Application:
    """The admin API alone, for `admin_listen`; it shares the gateway app's runtime (which that
    app starts and stops)."""
    app = _base_app(config, runtime, [envelope_middleware])
    app.router.add_get("/health", health.health)
    admin_routes.register(app)
    return app


def _base_app(config: Config, runtime: Runtime, middlewares: list[Any]) -> web.Application:
    app = web.Application(middlewares=middlewares, client_max_size=config.limits.read_limit(config.models),
                          handler_args={"max_field_size": 16384})
    app[RUNTIME] = runtime
    app.on_response_prepare.append(plain_server_header)
    return app
