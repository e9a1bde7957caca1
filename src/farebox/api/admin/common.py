"""What every admin handler shares: the admin key check, strict JSON bodies, and turning the
service layer's refusals into OpenAI-style error envelopes."""

from __future__ import annotations

import functools
import hmac
import time
from collections import deque
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import msgspec
from aiohttp import web

from farebox.api.body import decode_json, read_raw
from farebox.api.state import runtime
from farebox.errors import (
    AdminApiDisabled,
    ConflictError,
    GatewayError,
    InvalidApiKey,
    InvalidRequest,
    NotFound,
    RateLimited,
)
from farebox.runtime import Runtime
from farebox.services.operator import OperatorError, RecordConflict, RecordNotFound
from farebox.storage.repository import MAX_ROW_ID

PREFIX = "/admin/v1"
AdminHandler = Callable[[web.Request, Runtime], Awaitable[web.StreamResponse]]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

# Amounts stay exact: JSON numbers become Decimal, never float.
_decoder = msgspec.json.Decoder(float_hook=Decimal)


MIN_ADMIN_KEY_CHARS = 32
ADMIN_FAILURES_PER_MINUTE = 10  # per client address, before its admin requests get 429


class AdminThrottle:
    """Failed admin authentications per client address in a sliding minute: guessing the admin
    key gets 10 tries a minute, not thousands a second."""

    def __init__(self, per_minute: int = ADMIN_FAILURES_PER_MINUTE) -> None:
        self.per_minute = per_minute
        self._failures: dict[str, deque[float]] = {}

    def check(self, address: str) -> None:
        failures = self._recent(address)
        if len(failures) >= self.per_minute:
            wait = max(1, int(failures[0] + 60 - time.monotonic()) + 1)
            raise RateLimited(f"Too many failed admin authentications; retry in {wait} s.",
                              headers={"Retry-After": str(wait)})

    def failed(self, address: str) -> None:
        self._recent(address).append(time.monotonic())
        if len(self._failures) > 10_000:  # bounded memory under a spray of addresses
            self._failures = {a: f for a, f in self._failures.items() if f and f[-1] > time.monotonic() - 60}

    def _recent(self, address: str) -> deque[float]:
        failures = self._failures.setdefault(address, deque())
        while failures and failures[0] < time.monotonic() - 60:
            failures.popleft()
        return failures


ADMIN_THROTTLE = web.AppKey("admin_throttle", AdminThrottle)


async def check_admin(rt: Runtime, throttle: AdminThrottle, authorization: str | None, address: str) -> None:
    """401 unless the Bearer token is the configured admin key (constant-time) or a stored one
    (`fbadmin-...`, kept as SHA-256); 403 when there is neither; 429 after too many failures
    from one address."""
    throttle.check(address)
    scheme, _, token = (authorization or "").partition(" ")
    token = token.strip()
    if scheme.lower() == "bearer" and token:
        given = token.encode("utf-8", "surrogateescape")  # bytes that are no text never match
        if rt.admin_key and hmac.compare_digest(given, rt.admin_key.encode()):
            return
        if await rt.operator.is_admin_key(token):
            return
    throttle.failed(address)
    if not rt.admin_key and not await rt.operator.has_admin_keys():
        raise AdminApiDisabled("The admin API is disabled: set `admin_key` in the config or the "
                               "FAREBOX_ADMIN_KEY environment variable, or create one with "
                               "`farebox admin-keys create`.")
    raise InvalidApiKey("Invalid admin key. Send it as 'Authorization: Bearer <admin key>'.")


def admin(handler: AdminHandler) -> Handler:
    """An admin route: authenticated first, operator refusals rendered as error envelopes."""

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        rt = runtime(request)
        await check_admin(rt, request.app[ADMIN_THROTTLE], request.headers.get("Authorization"),
                          request.remote or "")
        try:
            return await handler(request, rt)
        except OperatorError as exc:
            raise from_operator(exc) from None

    return wrapped


def from_operator(exc: OperatorError) -> GatewayError:
    message = str(exc)
    if message:
        message = message[0].upper() + message[1:] + ("" if message.endswith(".") else ".")
    return _ANSWERS.get(type(exc), InvalidRequest)(message)


# The service layer's refusals, in HTTP terms (anything else it refuses is a 400).
_ANSWERS: dict[type[OperatorError], type[GatewayError]] = {RecordNotFound: NotFound, RecordConflict: ConflictError}


ADMIN_MAX_BODY_BYTES = 1024 * 1024


async def read_body(request: web.Request) -> dict[str, Any]:
    """A JSON object body (an empty body counts as {})."""
    raw = await read_raw(request, ADMIN_MAX_BODY_BYTES, runtime(request).config.limits.client_timeout)
    if not raw.strip():
        return {}
    doc = decode_json(raw, _decoder)
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
        value = int(text)
    except ValueError:
        raise InvalidRequest(f"'{name}' must be an integer.", param=name) from None
    if abs(value) > MAX_ROW_ID:  # it would overflow the database driver
        raise InvalidRequest(f"'{name}' is out of range.", param=name)
    return value


async def changed(rt: Runtime) -> None:
    """Make an operator change live in this process now (others see state.version move)."""
    await rt.refresher.refresh()
    await rt.ledger.sync_balances()


def listing(data: list[dict[str, Any]]) -> dict[str, Any]:
    return {"object": "list", "data": data}
