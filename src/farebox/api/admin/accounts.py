"""/admin/v1/accounts and /admin/v1/keys."""

from __future__ import annotations

from aiohttp import web

from farebox.api.admin.common import admin, changed, listing, read_body, required_text, text_field
from farebox.api.render import json_response
from farebox.errors import InvalidRequest, shown
from farebox.runtime import Runtime
from farebox.storage.repository import row_id


@admin
async def create_account(request: web.Request, rt: Runtime) -> web.Response:
    body = await read_body(request)
    view = await rt.operator.create_account(required_text(body, "name"), required_text(body, "tier"))
    await changed(rt)
    return json_response(view, status=201)


@admin
async def list_accounts(request: web.Request, rt: Runtime) -> web.Response:
    return json_response(listing(await rt.operator.list_accounts()))


@admin
async def show_account(request: web.Request, rt: Runtime) -> web.Response:
    return json_response(await rt.operator.show_account(request.match_info["account"]))


@admin
async def update_account(request: web.Request, rt: Runtime) -> web.Response:
    """PATCH /accounts/{account} {"tier"} and POST /accounts/{account}/tier {"tier"}."""
    body = await read_body(request)
    unknown = set(body) - {"tier"}
    if unknown:
        raise InvalidRequest(f"Unknown parameter: '{sorted(unknown)[0]}'. Only 'tier' can change.",
                             param=sorted(unknown)[0])
    view = await rt.operator.set_tier(request.match_info["account"], required_text(body, "tier"))
    await changed(rt)
    return json_response(view)


@admin
async def create_key(request: web.Request, rt: Runtime) -> web.Response:
    body = await read_body(request)
    view = await rt.operator.create_key(request.match_info["account"], text_field(body, "name"))
    await changed(rt)
    return json_response(view, status=201)


@admin
async def list_account_keys(request: web.Request, rt: Runtime) -> web.Response:
    return json_response(listing(await rt.operator.list_keys(request.match_info["account"])))


@admin
async def list_keys(request: web.Request, rt: Runtime) -> web.Response:
    return json_response(listing(await rt.operator.list_keys(request.query.get("account") or None)))


@admin
async def revoke_key(request: web.Request, rt: Runtime) -> web.Response:
    """POST /keys/{key_id}/revoke and DELETE /keys/{key_id}; revoking twice is harmless."""
    text = request.match_info["key_id"]
    key_id = row_id(text)
    if key_id is None:
        raise InvalidRequest(f"A key id is a 64-bit integer; got {shown(text)!r}.", param="key_id")
    view = await rt.operator.revoke_key(key_id)
    await changed(rt)
    return json_response(view)
