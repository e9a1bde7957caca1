"""What every admin handler shares: the admin key check, strict JSON bodies, and turning the
service layer's refusals into OpenAI-style error envelopes."""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import msgspec
from aiohttp import web

from farebox.api.state import runtime
from farebox.errors import (
    AdminApiDisabled,
    ConflictError,
    GatewayError,
    InvalidApiKey,
    InvalidRequest,
    NotFound,
)
from farebox.runtime import Runtime
from farebox.services.operator import OperatorError

PREFIX = "/admin/v1"
AdminHandler = Callable[[web.Request, Runtime], Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Amounts stay exact: JSON numbers become Decimal, never float.
_decode = msgspec.json.Decoder(float_hook=Decimal).decode


def check_admin(rt: Runtime, authorization: str | None) -> None:
    """401 unless the Bearer token is the admin key (constant-time); 403 when none is set."""
    expected = rt.admin_key
    if not expected:
        raise AdminApiDisabled("The admin API is disabled: set `admin_key` in the config or the "
                               "FAREBOX_ADMIN_KEY environment variable.")
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), expected.encode()):
        raise InvalidApiKey("Invalid admin key. Send it as 'Authorization: Bearer <admin key>'.")


def admin(handler: AdminHandler) -> Handler:
    """An admin route: authenticated first, operator refusals rendered as error envelopes."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        rt = runtime(request)
        check_admin(rt, request.headers.get("Authorization"))
        try:
            return await handler(request, rt)
        except OperatorError as exc:
            raise from_operator(exc) from None

    return wrapped


def from_operator(exc: OperatorError) -> GatewayError:
    message = str(exc)
    if message:
        message = message[0].upper() + message[1:] + ("" if message.endswith(".") else ".")
    if exc.status == 404:
        return NotFound(message)
    if exc.status == 409:
        return ConflictError(message)
    return InvalidRequest(message)


async def read_body(request: web.Request) -> dict[str, Any]:
    """A JSON object body (an empty body counts as {})."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        doc = _decode(raw)
    except (msgspec.DecodeError, RecursionError):
        raise InvalidRequest("We could not parse the JSON body of your request.") from None
    if not isinstance(doc, dict):
        raise InvalidRequest("The request body must be a JSON object.")
    return doc


def text_field(body: dict[str, Any], name: str, *, required: bool = False) -> str | None:
    value = body.get(name)
    if value is None:
        if required:
            raise InvalidRequest(f"Missing required parameter: '{name}'.", param=name)
        return None
    if not isinstance(value, str):
        raise InvalidRequest(f"'{name}' must be a string.", param=name)
    return value


def required_text(body: dict[str, Any], name: str) -> str:
    value = text_field(body, name, required=True)
    assert value is not None
    return value


def account_field(body: dict[str, Any]) -> str:
    """An account by name (a string) or id (an integer)."""
    value = body.get("account")
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return required_text(body, "account")


def amount_field(body: dict[str, Any], name: str = "amount_usd") -> str:
    """A USD amount as exact decimal text (from a JSON number or a string)."""
    value = body.get(name)
    if value is None:
        raise InvalidRequest(f"Missing required parameter: '{name}'.", param=name)
    if isinstance(value, bool) or not isinstance(value, int | Decimal | str):
        raise InvalidRequest(f"'{name}' must be a number of USD (or a decimal string).", param=name)
    return str(value)


def bool_field(body: dict[str, Any], name: str) -> bool:
    value = body.get(name, False)
    if not isinstance(value, bool):
        raise InvalidRequest(f"'{name}' must be true or false.", param=name)
    return value


def int_query(request: web.Request, name: str) -> int | None:
    text = request.query.get(name)
    if text is None or text == "":
        return None
    try:
        return int(text)
    except ValueError:
        raise InvalidRequest(f"'{name}' must be an integer.", param=name) from None


async def changed(rt: Runtime) -> None:
    """Make an operator change live in this process now (others see state.version move)."""
    await rt.refresher.refresh()
    await rt.ledger.sync_balances()


def listing(data: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "list", "data": data}
