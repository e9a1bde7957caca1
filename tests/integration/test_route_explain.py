"""`farebox route explain` (CLI, offline) and POST /admin/v1/route/explain (live health)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
from typer.testing import CliRunner

from farebox.cli.main import app
from tests.fakes.fake_openai import FakeOpenAI
from tests.support import http
from tests.support.catalogue import catalogue_yaml
from tests.support.gateway import Gateway

TOOLS_REQUEST = {"model": "smart-route", "messages": [{"role": "user", "content": "Find the bug."}],
                 "tools": [{"type": "function", "function": {"name": "grep", "parameters": {"type": "object"}}}],
                 "max_tokens": 1000}


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "farebox.yaml"
    config.write_text(f"database: sqlite:///{tmp_path / 'db.sqlite'}\n" + catalogue_yaml())
    request = tmp_path / "request.json"
    request.write_text(json.dumps(TOOLS_REQUEST))
    return config, request


def test_cli_json(files: tuple[Path, Path]) -> None:
    config, request = files
    result = CliRunner().invoke(app, ["route", "explain", "--tier", "pro", "--request", str(request),
                                      "--config", str(config), "--json"])
    assert result.exit_code == 0, result.output
    report = json.loads(result.output)
    assert report["chosen"] == "fast-a" and report["error"] is None
    assert report["needs"]["features"] == ["tools"] and report["needs"]["ranking_output_tokens"] == 1000
    kept = [c for c in report["candidates"] if c["kept"]]
    assert [c["model"] for c in kept] == ["fast-a", "fast-b", "coder-32b", "mid-chat", "long-ctx"]
    assert [c["rank"] for c in kept] == [1, 2, 3, 4, 5]
    costs = [c["estimated_cost_usd"] for c in kept]
    assert costs == sorted(costs) and costs[0] > 0
    dropped = {c["model"]: c["reason"] for c in report["candidates"] if not c["kept"]}
    assert dropped == {"tiny-8b": "lacks tools", "vision-lite": "lacks tools", "reasoner": "lacks tools",
                       "frontier": "needs tier elite", "vip-only": "needs tier elite"}


def test_cli_table(files: tuple[Path, Path]) -> None:
    config, request = files
    result = CliRunner().invoke(app, ["route", "explain", "--tier", "starter", "--request", str(request),
                                      "--config", str(config)])
    assert result.exit_code == 0, result.output
    assert "chosen: coder-32b" in result.output
    rows = [[cell.strip() for cell in line.split("│")[1:-1]] for line in result.output.splitlines()
            if line.startswith("│") and line.split("│")[2].strip()]
    assert [row[:3] for row in rows[:3]] == [["1", "coder-32b", "starter"], ["2", "mid-chat", "starter"],
                                             ["", "tiny-8b", "starter"]]
    assert rows[0][3].startswith("$0.0006") and rows[2][3] == ""
    assert all(row[6].startswith("dropped:") for row in rows[2:])


def test_cli_unknown_tier(files: tuple[Path, Path]) -> None:
    config, request = files
    result = CliRunner().invoke(app, ["route", "explain", "--tier", "gold", "--request", str(request),
                                      "--config", str(config)])
    assert result.exit_code == 1 and "Unknown tier 'gold'" in result.output


@pytest.fixture
def gateway(fake_openai: FakeOpenAI, make_gateway: Callable[[str], Gateway]) -> Gateway:
    return make_gateway(catalogue_yaml(fake_openai.base_url))


def explain(gateway: Gateway, token: str | None, body: object) -> http.Reply:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http.post(f"{gateway.server.url}/admin/v1/route/explain", headers=headers, json_body=body)


def test_admin_explain_uses_live_health(gateway: Gateway) -> None:
    health = gateway.runtime.health

    async def open_circuit() -> None:
        for _ in range(health.policy.consecutive_failures):
            health.record_failure("up/up-fast-a")

    gateway.run(open_circuit())
    reply = explain(gateway, "admin-test-key", {"tier": "pro", "request": TOOLS_REQUEST})
    assert reply.status_code == 200, reply.text
    report = reply.json()
    assert report["chosen"] == "fast-b"
    fast_a = next(c for c in report["candidates"] if c["model"] == "fast-a")
    assert fast_a["kept"] is False and fast_a["status"] == "down"


def test_admin_explain_reports_the_error(gateway: Gateway) -> None:
    request = dict(TOOLS_REQUEST, reasoning_effort="high")
    report = explain(gateway, "admin-test-key", {"tier": "starter", "request": request}).json()
    assert report["chosen"] is None
    assert report["error"]["code"] == "unsupported_feature" and report["error"]["status"] == 400


@pytest.mark.parametrize("token", [None, "wrong", "admin-test-key-but-longer"])
def test_admin_explain_needs_the_admin_key(gateway: Gateway, token: str | None) -> None:
    reply = explain(gateway, token, {"tier": "pro", "request": TOOLS_REQUEST})
    assert reply.status_code == 401 and reply.json()["error"]["code"] == "invalid_api_key"


def test_admin_explain_refuses_a_customer_key(gateway: Gateway) -> None:
    key = gateway.account("customer", "elite")
    assert explain(gateway, key, {"tier": "pro", "request": TOOLS_REQUEST}).status_code == 401


@pytest.mark.parametrize(("body", "param"), [({"tier": "gold", "request": TOOLS_REQUEST}, "tier"),
                                             ({"request": TOOLS_REQUEST}, "tier"),
                                             ({"tier": "pro", "request": {"model": "x"}}, "request")])
def test_admin_explain_bad_bodies(gateway: Gateway, body: object, param: str) -> None:
    reply = explain(gateway, "admin-test-key", body)
    assert reply.status_code == 400 and reply.json()["error"]["param"] == param
