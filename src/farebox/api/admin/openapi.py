"""The OpenAPI 3.1 description of the admin API, served at GET /admin/v1/openapi.json.
Hand-written; tests/integration/test_admin_api.py checks it lists exactly the routes served."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from farebox.api.admin.common import admin
from farebox.api.render import json_response
from farebox.runtime import Runtime


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _list_of(name: str) -> dict[str, Any]:
    return {"type": "object", "required": ["object", "data"],
            "properties": {"object": {"const": "list"}, "data": {"type": "array", "items": _ref(name)}}}


def _errors(*statuses: int) -> dict[str, Any]:
    texts = {400: "Invalid request", 401: "Missing or wrong admin key", 403: "The admin API is disabled",
             404: "No such account or key", 409: "Conflict (duplicate name, reused idempotency key)"}
    return {str(s): _json(_ref("Error"), texts[s]) for s in sorted({401, 403, *statuses})}


def _op(summary: str, ok: dict[str, Any], *errors: int, body: dict[str, Any] | None = None,
        params: list[dict[str, Any]] | None = None, status: str = "200", **extra: Any) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": summary, "responses": {status: ok, **_errors(*errors)}, **extra}
    if body is not None:
        op["requestBody"] = {"required": True, "content": {"application/json": {"schema": body}}}
    if params:
        op["parameters"] = params
    return op


def _query(name: str, schema: dict[str, Any], description: str, required: bool = False) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": required, "schema": schema, "description": description}


ACCOUNT_PARAM = {"name": "account", "in": "path", "required": True, "schema": {"type": "string"},
                 "description": "The account's name, or its numeric id."}
KEY_PARAM = {"name": "key_id", "in": "path", "required": True, "schema": {"type": "integer"}}
IDEMPOTENCY_HEADER = {"name": "Idempotency-Key", "in": "header", "required": False, "schema": {"type": "string"},
                      "description": "Same as the body's idempotency_key (they must agree when both are sent)."}
USD = {"type": ["number", "string"], "description": "USD, at most 9 decimals (a string keeps it exact)."}
TIER_BODY = {"type": "object", "required": ["tier"], "properties": {"tier": {"type": "string"}},
             "additionalProperties": False}
ENTRY_BODY: dict[str, Any] = {"type": "object", "required": ["account", "amount_usd"], "properties": {
    "account": {"type": ["string", "integer"]}, "amount_usd": USD, "note": {"type": "string"},
    "idempotency_key": {"type": "string", "maxLength": 200}}}
ENTRY_OK = {"201": _json(_ref("Entry"), "Recorded"),
            "200": _json(_ref("Entry"), "Replay: this idempotency key was already used; the original entry")}

NUMBER = {"type": "number"}
INT = {"type": "integer"}
NULL_STR = {"type": ["string", "null"]}
USAGE_FIGURES = {"requests": INT, "prompt_tokens": INT, "cached_tokens": INT, "cache_write_tokens": INT,
                 "completion_tokens": INT, "reasoning_tokens": INT, "cost_usd": NUMBER}

SCHEMAS: dict[str, Any] = {
    "Error": {"type": "object", "required": ["error"], "properties": {"error": {
        "type": "object", "required": ["message", "type", "param", "code"],
        "properties": {"message": {"type": "string"}, "type": {"type": "string"}, "param": NULL_STR,
                       "code": NULL_STR}}}},
    "Account": {"type": "object", "properties": {
        "id": INT, "name": {"type": "string"}, "tier": {"type": "string"}, "balance_usd": NUMBER,
        "balance_nano": INT, "disabled": {"type": "boolean"}, "created_at": {"type": "string"}}},
    "AccountWithKeys": {"allOf": [_ref("Account"), {"type": "object", "properties": {
        "keys": {"type": "array", "items": _ref("Key")}}}]},
    "Key": {"type": "object", "properties": {
        "id": INT, "account_id": INT, "account": NULL_STR, "name": NULL_STR, "prefix": {"type": "string"},
        "created_at": {"type": "string"}, "revoked_at": NULL_STR, "status": {"enum": ["active", "revoked"]}}},
    "NewKey": {"allOf": [_ref("Key"), {"type": "object", "required": ["key"], "properties": {
        "key": {"type": "string", "description": "The secret key, shown this once and never stored."}}}]},
    "LedgerEntry": {"type": "object", "properties": {
        "id": INT, "created_at": {"type": "string"}, "account_id": INT,
        "kind": {"enum": ["topup", "charge", "refund", "adjustment"]}, "amount_usd": NUMBER, "amount_nano": INT,
        "balance_after_usd": NUMBER, "balance_after_nano": INT, "request_id": NULL_STR,
        "idempotency_key": NULL_STR, "key_id": {"type": ["integer", "null"]}, "model_requested": NULL_STR,
        "model_used": NULL_STR, "provider": NULL_STR, "deployment": NULL_STR, "prompt_tokens": INT,
        "cached_tokens": INT, "cache_write_tokens": INT, "completion_tokens": INT, "reasoning_tokens": INT,
        "latency_ms": {"type": ["number", "null"]}, "ttft_ms": {"type": ["number", "null"]},
        "outcome": NULL_STR, "attempts": NULL_STR, "note": NULL_STR}},
    "Entry": {"allOf": [_ref("LedgerEntry"), {"type": "object", "properties": {
        "created": {"type": "boolean", "description": "false when an idempotency key replayed an entry"},
        "account": {"type": "string"}}}]},
    "Usage": {"type": "object", "properties": {
        "object": {"const": "usage"}, "account": {"type": "string"}, "tier": {"type": "string"},
        "currency": {"const": "USD"}, "balance_usd": NUMBER, "held_usd": NUMBER, "available_usd": NUMBER,
        "period": {"type": "object", "properties": {"start": {"type": "string"}, "end": {"type": "string"}}},
        "total": {"type": "object", "properties": USAGE_FIGURES},
        "models": {"type": "array", "items": {"type": "object",
                                               "properties": {"model": {"type": "string"}, **USAGE_FIGURES}}}}},
    "Check": {"type": "object", "properties": {
        "object": {"const": "check"}, "ok": {"type": "boolean"}, "accounts": {"type": "array", "items": {
            "type": "object", "properties": {"account_id": INT, "account": {"type": "string"},
                                             "balance_usd": NUMBER, "ledger_usd": NUMBER, "balance_nano": INT,
                                             "ledger_nano": INT, "ok": {"type": "boolean"}}}}}},
}

PATHS: dict[str, Any] = {
    "/openapi.json": {"get": _op("This document", {"description": "OpenAPI 3.1 document"})},
    "/accounts": {
        "get": _op("List accounts", _json(_list_of("Account"), "Accounts")),
        "post": _op("Create an account", _json(_ref("Account"), "Created"), 400, 409, status="201", body={
            "type": "object", "required": ["name", "tier"],
            "properties": {"name": {"type": "string"}, "tier": {"type": "string"}}}),
    },
    "/accounts/{account}": {
        "parameters": [ACCOUNT_PARAM],
        "get": _op("Show an account with its keys", _json(_ref("AccountWithKeys"), "The account"), 404),
        "patch": _op("Change an account's tier", _json(_ref("Account"), "Updated"), 400, 404, body=TIER_BODY),
    },
    "/accounts/{account}/tier": {
        "parameters": [ACCOUNT_PARAM],
        "post": _op("Change an account's tier (same as PATCH)", _json(_ref("Account"), "Updated"), 400, 404,
                    body=TIER_BODY),
    },
    "/accounts/{account}/keys": {
        "parameters": [ACCOUNT_PARAM],
        "get": _op("List an account's keys", _json(_list_of("Key"), "Keys"), 404),
        "post": _op("Create a key (the secret is returned once)", _json(_ref("NewKey"), "Created"), 400, 404,
                    status="201", body={"type": "object", "properties": {"name": {"type": "string"}}}),
    },
    "/keys": {"get": _op("List keys", _json(_list_of("Key"), "Keys"), 404, params=[
        _query("account", {"type": "string"}, "Only this account's keys (name or id).")])},
    "/keys/{key_id}/revoke": {"parameters": [KEY_PARAM],
                              "post": _op("Revoke a key", _json(_ref("Key"), "Revoked"), 400, 404)},
    "/keys/{key_id}": {"parameters": [KEY_PARAM],
                       "delete": _op("Revoke a key (same as POST .../revoke)", _json(_ref("Key"), "Revoked"),
                                     400, 404)},
    "/credits": {"post": {**_op("Top up an account (idempotent with a key)", {}, 400, 404, 409, body=ENTRY_BODY,
                                params=[IDEMPOTENCY_HEADER]), "responses": {**ENTRY_OK, **_errors(400, 404, 409)}}},
    "/adjustments": {"post": {**_op("Adjust a balance up or down, or refund", {}, 400, 404, 409, params=[
        IDEMPOTENCY_HEADER], body={**ENTRY_BODY, "properties": {**ENTRY_BODY["properties"], "refund": {
            "type": "boolean", "description": "Record a (positive) refund instead of an adjustment."}}}),
        "responses": {**ENTRY_OK, **_errors(400, 404, 409)}}},
    "/ledger": {"get": _op("An account's ledger, oldest first", {
        "description": "Entries", "content": {"application/json": {"schema": _list_of("LedgerEntry")},
                                              "text/csv": {"schema": {"type": "string"}}}}, 400, 404, params=[
        _query("account", {"type": "string"}, "Name or id.", required=True),
        _query("limit", {"type": "integer", "minimum": 1}, "Only the newest N entries."),
        _query("since", {"type": "string"}, "From this time on: Unix seconds or ISO 8601 (UTC by default)."),
        _query("kind", {"enum": ["topup", "charge", "refund", "adjustment"]}, "Only this kind."),
        _query("format", {"enum": ["json", "csv"], "default": "json"}, "CSV for spreadsheets.")])},
    "/usage": {"get": _op("Month-to-date (UTC) usage of an account", _json(_ref("Usage"), "Usage"), 400, 404,
                          params=[_query("account", {"type": "string"}, "Name or id.", required=True)])},
    "/check": {"get": _op("Every balance against its ledger sum", _json(_ref("Check"), "The check"))},
    "/health": {"get": _op("Every deployment's circuit (closed, open, half_open) and every model's status "
                           "(live, degraded, down)", _json({"type": "object"}, "Routing health"))},
    "/route/explain": {"post": _op(
        "smart-route's candidates for a request: kept or dropped, why, and their estimated costs, in the "
        "order smart-route would try them (live health and latency)",
        _json({"type": "object"}, "The explanation"), 400,
        body={"type": "object", "required": ["tier"],
              "properties": {"tier": {"type": "string"}, "request": {"type": "object",
                                                                     "description": "A chat completion body."}}})},
}

DOCUMENT: dict[str, Any] = {
    "openapi": "3.1.0",
    "info": {"title": "farebox admin API", "version": "1",
             "description": "Accounts, keys, prepaid credit, the ledger and usage. Every call takes "
                            "`Authorization: Bearer <admin key>`; errors use the OpenAI error envelope."},
    "servers": [{"url": "/admin/v1"}],
    "security": [{"adminKey": []}],
    "paths": PATHS,
    "components": {"schemas": SCHEMAS,
                   "securitySchemes": {"adminKey": {"type": "http", "scheme": "bearer"}}},
}


@admin
async def document(request: web.Request, rt: Runtime) -> web.Response:
    return json_response(DOCUMENT)
