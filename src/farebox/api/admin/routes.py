"""The admin API's routes, in one table (the OpenAPI document must list exactly these)."""

from __future__ import annotations

from aiohttp import web

from farebox.api.admin import accounts, health, money, openapi, route_explain
from farebox.api.admin.common import ADMIN_THROTTLE, PREFIX, AdminThrottle, Handler

ROUTES: list[tuple[str, str, Handler]] = [
    ("GET", "/openapi.json", openapi.document),
    ("GET", "/accounts", accounts.list_accounts),
    ("POST", "/accounts", accounts.create_account),
    ("GET", "/accounts/{account}", accounts.show_account),
    ("PATCH", "/accounts/{account}", accounts.update_account),
    ("POST", "/accounts/{account}/tier", accounts.update_account),
    ("GET", "/accounts/{account}/keys", accounts.list_account_keys),
    ("POST", "/accounts/{account}/keys", accounts.create_key),
    ("GET", "/keys", accounts.list_keys),
    ("POST", "/keys/{key_id}/revoke", accounts.revoke_key),
    ("DELETE", "/keys/{key_id}", accounts.revoke_key),
    ("POST", "/credits", money.top_up),
    ("POST", "/adjustments", money.adjust),
    ("GET", "/ledger", money.ledger),
    ("GET", "/usage", money.usage),
    ("GET", "/check", money.check),
    ("POST", "/route/explain", route_explain.route_explain),
    ("GET", "/health", health.health),
]


def register(app: web.Application) -> None:
    app[ADMIN_THROTTLE] = AdminThrottle()
    for method, path, handler in ROUTES:
        app.router.add_route(method, PREFIX + path, handler)
