"""/admin/v1/credits, /adjustments, /ledger, /usage and /check."""

from __future__ import annotations

from aiohttp import web

from farebox.api.admin.common import (
    account_field,
    admin,
    amount_field,
    bool_field,
    changed,
    int_query,
    listing,
    read_body,
    text_field,
)
from farebox.api.render import json_response
from farebox.errors import InvalidRequest
from farebox.runtime import Runtime
from farebox.services.operator import ledger_csv, parse_since


@admin
async def top_up(request: web.Request, rt: Runtime) -> web.Response:
    """Credit an account. With an idempotency key (body or Idempotency-Key header), a retry
    credits nothing and returns the original entry with 200; a new entry is 201."""
    return await _post_entry(request, rt, "topup")


@admin
async def adjust(request: web.Request, rt: Runtime) -> web.Response:
    """A signed correction, or a refund with {"refund": true}."""
    body = await read_body(request)
    return await _post_entry(request, rt, "refund" if bool_field(body, "refund") else "adjustment", body)


async def _post_entry(request: web.Request, rt: Runtime, kind: str,
                      body: dict[str, object] | None = None) -> web.Response:
    body = body if body is not None else await read_body(request)
    key = _idempotency_key(request, body)
    view = await rt.operator.post_credit(account_field(body), amount_field(body), kind=kind,
                                         note=text_field(body, "note"), idempotency_key=key)
    if view["created"]:
        await changed(rt)
    return json_response(view, status=201 if view["created"] else 200)


def _idempotency_key(request: web.Request, body: dict[str, object]) -> str | None:
    header = request.headers.get("Idempotency-Key")
    field = text_field(body, "idempotency_key")
    if header is not None and field is not None and header != field:
        raise InvalidRequest("The Idempotency-Key header and 'idempotency_key' differ.", param="idempotency_key")
    key = header if header is not None else field
    if key is not None and not 1 <= len(key) <= 200:
        raise InvalidRequest("An idempotency key must be 1 to 200 characters.", param="idempotency_key")
    return key


@admin
async def ledger(request: web.Request, rt: Runtime) -> web.Response:
    """GET /ledger?account=&limit=&since=&kind=&format=json|csv"""
    account = request.query.get("account")
    if not account:
        raise InvalidRequest("Missing required query parameter: 'account'.", param="account")
    since_text = request.query.get("since")
    rows = await rt.operator.ledger(account, int_query(request, "limit"), kind=request.query.get("kind") or None,
                                    since=parse_since(since_text) if since_text else None)
    fmt = request.query.get("format", "json")
    if fmt == "csv":
        return web.Response(text=ledger_csv(rows), content_type="text/csv", charset="utf-8")
    if fmt != "json":
        raise InvalidRequest("format must be json or csv.", param="format")
    return json_response(listing(rows))


@admin
async def usage(request: web.Request, rt: Runtime) -> web.Response:
    """Month-to-date (UTC) usage of one account: the same body as its own GET /v1/usage."""
    account = request.query.get("account")
    if not account:
        raise InvalidRequest("Missing required query parameter: 'account'.", param="account")
    row = await rt.operator.account(account)
    return json_response(await rt.operator.usage(row["id"], await rt.held(row["id"])))


@admin
async def check(request: web.Request, rt: Runtime) -> web.Response:
    """Every balance against its ledger sum (what `farebox db check` prints)."""
    rows = await rt.operator.check()
    return json_response({"object": "check", "ok": all(r["ok"] for r in rows), "accounts": rows})
