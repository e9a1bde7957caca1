"""The admin API on a real gateway: auth isolation, accounts, keys, idempotent credits, the
ledger and usage queries, and the OpenAPI document against the routes actually served."""

from __future__ import annotations

import csv
import io
import threading
from collections.abc import Callable
from typing import Any

import openai
import pytest

from farebox.api.admin.openapi import DOCUMENT
from tests.fakes.fake_openai import FakeOpenAI
from tests.support import http
from tests.support.gateway import Gateway

ADMIN = "admin-test-key"
CONFIG = """
providers:
  up: {kind: openai, base_url: "%s"}
models:
  coder:
    tier: starter
    context: 16384
    max_output: 1000
    price: {input: 0.20, output: 0.60, cached_input: 0.05}
    deployments: [{provider: up, model: upstream-coder}]
"""


@pytest.fixture
def gateway(fake_openai: FakeOpenAI, make_gateway: Callable[[str], Gateway]) -> Gateway:
    return make_gateway(CONFIG % fake_openai.base_url)


def call(gateway: Gateway, method: str, path: str, body: Any = None, key: str | None = ADMIN,
         headers: dict[str, str] | None = None) -> http.Reply:
    merged = dict(headers or {})
    if key is not None:
        merged["Authorization"] = f"Bearer {key}"
    return http.request(method, f"{gateway.server.url}/admin/v1{path}", headers=merged, json_body=body)


def assert_error(reply: http.Reply, status: int, code: str) -> dict[str, Any]:
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert set(error) == {"message", "type", "param", "code"} and error["code"] == code
    return dict(error)


def test_openapi_lists_exactly_the_admin_routes(gateway: Gateway) -> None:
    served = set()
    for route in gateway.server.app.router.routes():
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter") or ""
        if path.startswith("/admin/v1/"):
            served.add((route.method.lower(), path.removeprefix("/admin/v1")))
    documented = {(method, path) for path, item in DOCUMENT["paths"].items()
                  for method in item if method in ("get", "post", "put", "patch", "delete")}
    assert served == documented
    reply = call(gateway, "GET", "/openapi.json")
    assert reply.status_code == 200 and reply.json() == DOCUMENT
    assert reply.json()["openapi"].startswith("3.1")


def test_customer_and_admin_keys_are_isolated(gateway: Gateway) -> None:
    customer = gateway.account("cust", "pro", "5")
    for key in (customer, None, "wrong-admin-key", ADMIN + "x"):
        assert_error(call(gateway, "GET", "/accounts", key=key), 401, "invalid_api_key")
    assert_error(call(gateway, "GET", "/accounts", headers={"Authorization": f"Basic {ADMIN}"}, key=None),
                 401, "invalid_api_key")
    with pytest.raises(openai.AuthenticationError):
        gateway.client(ADMIN).chat.completions.create(model="coder", messages=[{"role": "user", "content": "x"}])
    assert http.get(f"{gateway.base_url}/balance", headers={"Authorization": f"Bearer {ADMIN}"}).status_code == 401
    assert call(gateway, "GET", "/accounts").status_code == 200


def test_no_admin_key_disables_the_admin_api(gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(gateway.runtime, "admin_key", None)
    for method, path in (("GET", "/accounts"), ("POST", "/credits"), ("GET", "/openapi.json")):
        assert_error(call(gateway, method, path, {}), 403, "admin_api_disabled")
        assert_error(call(gateway, method, path, {}, key=None), 403, "admin_api_disabled")


def test_accounts_and_keys(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    created = call(gateway, "POST", "/accounts", {"name": "acme", "tier": "starter"})
    assert created.status_code == 201
    account = created.json()
    assert account["name"] == "acme" and account["tier"] == "starter" and account["balance_usd"] == 0
    assert_error(call(gateway, "POST", "/accounts", {"name": "acme", "tier": "starter"}), 409, "conflict")
    assert_error(call(gateway, "POST", "/accounts", {"name": "x", "tier": "gold"}), 400, "invalid_request_error")
    error = assert_error(call(gateway, "POST", "/accounts", {"name": 5, "tier": "pro"}), 400,
                         "invalid_request_error")
    assert error["param"] == "name"
    assert_error(call(gateway, "POST", "/accounts", {"tier": "pro"}), 400, "invalid_request_error")
    bad_json = http.post(f"{gateway.server.url}/admin/v1/accounts", content=b"{nope",
                         headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"})
    assert_error(bad_json, 400, "invalid_request_error")
    names = [a["name"] for a in call(gateway, "GET", "/accounts").json()["data"]]
    assert names == ["acme"]
    by_id = call(gateway, "GET", f"/accounts/{account['id']}").json()
    assert by_id["name"] == "acme" and by_id["keys"] == []
    assert_error(call(gateway, "GET", "/accounts/nobody"), 404, "not_found")

    assert call(gateway, "PATCH", "/accounts/acme", {"tier": "pro"}).json()["tier"] == "pro"
    assert call(gateway, "POST", "/accounts/acme/tier", {"tier": "elite"}).json()["tier"] == "elite"
    assert_error(call(gateway, "PATCH", "/accounts/acme", {"tier": "pro", "name": "x"}), 400,
                 "invalid_request_error")

    new_key = call(gateway, "POST", "/accounts/acme/keys", {"name": "ci"})
    assert new_key.status_code == 201
    secret = new_key.json()["key"]
    assert secret.startswith("sk-") and new_key.json()["prefix"] == secret[:11]
    listed = call(gateway, "GET", "/keys?account=acme").json()["data"]
    assert [k["id"] for k in listed] == [new_key.json()["id"]] and "key" not in listed[0]
    assert call(gateway, "GET", "/accounts/acme/keys").json()["data"] == listed
    assert call(gateway, "POST", "/credits", {"account": "acme", "amount_usd": "1"}).status_code == 201
    # The new key and its credit work at once, without waiting for the poller.
    client = gateway.client(secret)
    reply = client.chat.completions.create(model="coder", messages=[{"role": "user", "content": "hi"}])
    assert reply.choices[0].message.content

    revoked = call(gateway, "DELETE", f"/keys/{new_key.json()['id']}")
    assert revoked.status_code == 200 and revoked.json()["status"] == "revoked"
    assert revoked.json()["account"] == "acme"
    with pytest.raises(openai.AuthenticationError):
        client.chat.completions.create(model="coder", messages=[{"role": "user", "content": "hi"}])
    again = call(gateway, "POST", f"/keys/{new_key.json()['id']}/revoke")
    assert again.status_code == 200 and again.json()["revoked_at"] == revoked.json()["revoked_at"]
    assert_error(call(gateway, "DELETE", "/keys/999"), 404, "not_found")
    assert_error(call(gateway, "DELETE", "/keys/abc"), 400, "invalid_request_error")
    assert_error(call(gateway, "PUT", "/keys/1"), 405, "method_not_allowed")


def balance(gateway: Gateway, key: str) -> dict[str, Any]:
    return dict(http.get(f"{gateway.base_url}/balance", headers={"Authorization": f"Bearer {key}"}).json())


def test_idempotent_top_up(gateway: Gateway) -> None:
    key = gateway.account("shop", "pro", None)
    body = {"account": "shop", "amount_usd": 12.5, "note": "order 17", "idempotency_key": "pay_17"}
    first = call(gateway, "POST", "/credits", body)
    assert first.status_code == 201 and first.json()["created"] is True
    assert first.json()["amount_usd"] == 12.5 and first.json()["amount_nano"] == 12_500_000_000
    retry = call(gateway, "POST", "/credits", body)
    assert retry.status_code == 200 and retry.json()["id"] == first.json()["id"]
    assert retry.json()["created"] is False
    assert balance(gateway, key)["balance_usd"] == 12.5
    assert_error(call(gateway, "POST", "/credits", dict(body, amount_usd=13)), 409, "conflict")
    # The header works too, and must agree with the body.
    header = {"Idempotency-Key": "pay_18"}
    assert call(gateway, "POST", "/credits", {"account": "shop", "amount_usd": "0.1"}, headers=header
                ).status_code == 201
    assert call(gateway, "POST", "/credits", {"account": "shop", "amount_usd": "0.1"}, headers=header
                ).status_code == 200
    assert_error(call(gateway, "POST", "/credits", dict(body, idempotency_key="other"), headers=header), 400,
                 "invalid_request_error")
    # A webhook delivered ten times at once credits once.
    replies: list[http.Reply] = []
    lock = threading.Lock()

    def deliver() -> None:
        reply = call(gateway, "POST", "/credits", {"account": "shop", "amount_usd": "2", "idempotency_key": "pay_19"})
        with lock:
            replies.append(reply)

    threads = [threading.Thread(target=deliver) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(r.status_code for r in replies) == [200] * 9 + [201]
    assert len({r.json()["id"] for r in replies}) == 1
    topups = [r for r in gateway.ledger("shop") if r["kind"] == "topup"]
    assert [r["amount_nano"] for r in topups] == [12_500_000_000, 100_000_000, 2_000_000_000]
    assert balance(gateway, key)["balance_usd"] == 14.6
    assert all(r["ok"] for r in gateway.check())
    for bad in ({"account": "shop", "amount_usd": -1}, {"account": "shop", "amount_usd": "1.0000000001"},
                {"account": "shop", "amount_usd": True}, {"account": "shop"}):
        assert_error(call(gateway, "POST", "/credits", bad), 400, "invalid_request_error")
    assert_error(call(gateway, "POST", "/credits", {"account": "ghost", "amount_usd": 1}), 404, "not_found")


def test_adjustments_ledger_and_usage_queries(gateway: Gateway) -> None:
    key = gateway.account("ops", "pro", "3")
    client = gateway.client(key)
    for _ in range(2):
        client.chat.completions.create(model="coder", messages=[{"role": "user", "content": "hi"}])
    down = call(gateway, "POST", "/adjustments", {"account": "ops", "amount_usd": "-0.5", "note": "goodwill undo"})
    assert down.status_code == 201 and down.json()["kind"] == "adjustment" and down.json()["amount_usd"] == -0.5
    refund = call(gateway, "POST", "/adjustments", {"account": "ops", "amount_usd": "0.25", "refund": True})
    assert refund.json()["kind"] == "refund"
    assert_error(call(gateway, "POST", "/adjustments", {"account": "ops", "amount_usd": 0}), 400,
                 "invalid_request_error")

    rows = call(gateway, "GET", "/ledger?account=ops").json()["data"]
    assert [r["kind"] for r in rows] == ["topup", "charge", "charge", "adjustment", "refund"]
    assert sum(r["amount_nano"] for r in rows) == rows[-1]["balance_after_nano"]
    assert balance(gateway, key)["balance_usd"] * 1e9 == pytest.approx(rows[-1]["balance_after_nano"])
    charges = call(gateway, "GET", "/ledger?account=ops&kind=charge").json()["data"]
    assert [r["id"] for r in charges] == [rows[1]["id"], rows[2]["id"]]
    assert [r["id"] for r in call(gateway, "GET", "/ledger?account=ops&limit=2").json()["data"]] == \
        [rows[3]["id"], rows[4]["id"]]
    assert call(gateway, "GET", "/ledger?account=ops&since=2999-01-01T00:00:00").json()["data"] == []
    assert len(call(gateway, "GET", "/ledger?account=ops&since=0").json()["data"]) == 5
    assert_error(call(gateway, "GET", "/ledger?account=ops&since=yesterday"), 400, "invalid_request_error")
    assert_error(call(gateway, "GET", "/ledger?account=ops&kind=gift"), 400, "invalid_request_error")
    assert_error(call(gateway, "GET", "/ledger"), 400, "invalid_request_error")
    as_csv = call(gateway, "GET", "/ledger?account=ops&format=csv")
    assert as_csv.headers["content-type"].startswith("text/csv")
    table = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [int(r["amount_nano"]) for r in table] == [r["amount_nano"] for r in rows]
    assert table[1]["request_id"] == rows[1]["request_id"]

    usage = call(gateway, "GET", "/usage?account=ops").json()
    own = http.get(f"{gateway.base_url}/usage", headers={"Authorization": f"Bearer {key}"}).json()
    for body in (usage, own):
        assert body["total"]["requests"] == 2
        assert round(body["total"]["cost_usd"] * 1e9) == -sum(r["amount_nano"] for r in charges)
        assert body["balance_usd"] == balance(gateway, key)["balance_usd"]
    assert usage["models"] == own["models"] and usage["total"] == own["total"]
    checked = call(gateway, "GET", "/check").json()
    assert checked["ok"] is True and [a["account"] for a in checked["accounts"]] == ["ops"]
