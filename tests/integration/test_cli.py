"""The operator CLI, run as a real command against a real database and a running gateway."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import openai
import pytest

from tests.support.gateway import Gateway

CONFIG = """
providers: {noop: {kind: noop}}
models:
  noop-test: {tier: starter, price: {input: 0.1, output: 0.4}, deployments: [{provider: noop, model: noop-test}]}
  premium: {tier: elite, price: {input: 5, output: 15}, deployments: [{provider: noop, model: noop-test}]}
"""


def farebox(config: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, FAREBOX_CONFIG=str(config))
    result = subprocess.run([sys.executable, "-m", "farebox", *args], env=env, capture_output=True, text=True,
                            timeout=60)
    if check:
        assert result.returncode == 0, result.stderr
    return result


@pytest.fixture
def gateway_and_config(make_gateway: Callable[[str], Gateway], tmp_path: Path) -> tuple[Gateway, Path]:
    gateway = make_gateway(CONFIG)
    path = tmp_path / "farebox.yaml"
    path.write_text(f"database: {gateway.config.database}\n" + CONFIG + """
tiers:
  starter: {rank: 1, rpm: 6000, burst_rpm: 12000}
  pro:     {rank: 2, rpm: 6000, burst_rpm: 12000}
  elite:   {rank: 3, rpm: 6000, burst_rpm: 12000}
""")
    return gateway, path


def test_accounts_keys_credits_and_revocation(gateway_and_config: tuple[Gateway, Path]) -> None:
    gateway, config = gateway_and_config
    account = json.loads(farebox(config, "accounts", "create", "acme", "--tier", "starter", "--json").stdout)
    assert account["name"] == "acme" and account["tier"] == "starter"
    created = json.loads(farebox(config, "keys", "create", "acme", "--name", "ci", "--json").stdout)
    key = created["key"]
    assert key.startswith("sk-") and len(key) == 48 and key[3:].isalnum()
    listed = json.loads(farebox(config, "keys", "list", "acme", "--json").stdout)
    assert [k["prefix"] for k in listed] == [key[:11]] and "key" not in listed[0]
    assert key not in farebox(config, "keys", "list").stdout
    topup = json.loads(farebox(config, "credits", "add", "acme", "2.5", "--note", "invoice 1", "--json").stdout)
    assert topup["amount_usd"] == 2.5 and topup["balance_after_usd"] == 2.5
    accounts = json.loads(farebox(config, "accounts", "list", "--json").stdout)
    assert [(a["name"], a["balance_usd"]) for a in accounts] == [("acme", 2.5)]

    gateway.refresh()
    client = gateway.client(key)
    reply = client.chat.completions.create(model="noop-test", messages=[{"role": "user", "content": "hi"}])
    assert reply.usage is not None
    with pytest.raises(openai.PermissionDeniedError):
        client.chat.completions.create(model="premium", messages=[{"role": "user", "content": "hi"}])
    farebox(config, "accounts", "set-tier", "acme", "elite")
    gateway.refresh()
    client.chat.completions.create(model="premium", messages=[{"role": "user", "content": "hi"}])

    farebox(config, "keys", "revoke", str(created["id"]))
    gateway.refresh()
    with pytest.raises(openai.AuthenticationError) as err:
        client.chat.completions.create(model="noop-test", messages=[{"role": "user", "content": "hi"}])
    assert err.value.code == "invalid_api_key"

    ledger = json.loads(farebox(config, "ledger", "acme", "--json").stdout)
    assert [row["kind"] for row in ledger] == ["topup", "charge", "charge"]
    csv_text = farebox(config, "ledger", "acme", "--csv").stdout
    assert csv_text.splitlines()[0].startswith("id,") and len(csv_text.splitlines()) == 4
    assert "ok: 1 account(s)" in farebox(config, "db", "check").stdout


def test_cli_refuses_bad_input_clearly(gateway_and_config: tuple[Gateway, Path], tmp_path: Path) -> None:
    _, config = gateway_and_config
    result = farebox(config, "accounts", "create", "x", "--tier", "gold", check=False)
    assert result.returncode == 1 and "unknown tier 'gold'" in result.stderr
    result = farebox(config, "keys", "create", "nobody", check=False)
    assert result.returncode == 1 and "no account 'nobody'" in result.stderr
    bad = tmp_path / "bad.yaml"
    bad.write_text("tiers: {}\nproviders: {}\nmodels: {}\nwhat: 1\n")
    result = farebox(bad, "accounts", "list", check=False)
    assert result.returncode == 2 and "bad.yaml" in result.stderr and "what" in result.stderr
