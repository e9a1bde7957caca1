"""Exact costs (cached reads, cache writes, reasoning) against an independent Decimal computation,
/v1/usage and /v1/balance against the ledger, and the money CLI (`db check`, `ledger --csv`)."""

from __future__ import annotations

import csv
import io
import sqlite3
from collections.abc import Callable
from decimal import ROUND_CEILING, Decimal
from pathlib import Path
from typing import Any, TypedDict

import pytest
from typer.testing import CliRunner

from farebox.cli.main import app as cli
from tests.fakes.fake_openai import FakeOpenAI, Script
from tests.support import http
from tests.support.gateway import TIERS, Gateway
from tests.support.sdk import extras

# Odd prices so that rounding matters; USD per 1M tokens.
PRICES = {"input": "2.37", "output": "11.13", "cached_input": "0.237", "cache_write": "2.9625"}
CONFIG = """
providers:
  up: {kind: openai, base_url: "%s"}
models:
  sonnet:
    tier: starter
    context: 200000
    max_output: 8192
    price: {input: 2.37, output: 11.13, cached_input: 0.237, cache_write: 2.9625}
    features: [reasoning]
    deployments: [{provider: up, model: upstream-sonnet}]
  cheap:
    tier: starter
    context: 8192
    max_output: 512
    price: {input: 0.1, output: 0.3}
    deployments: [{provider: up, model: upstream-cheap}]
"""


@pytest.fixture
def gateway(fake_openai: FakeOpenAI, make_gateway: Callable[[str], Gateway]) -> Gateway:
    return make_gateway(CONFIG % fake_openai.base_url)


def expected_usd(prompt: int, cached: int, written: int, completion: int) -> Decimal:
    """Independent of farebox: Decimal USD, rounded up once to the nano-USD."""
    per_token = {k: Decimal(v) / 1_000_000 for k, v in PRICES.items()}
    exact = ((prompt - cached - written) * per_token["input"] + cached * per_token["cached_input"]
             + written * per_token["cache_write"] + completion * per_token["output"])
    return exact.quantize(Decimal("0.000000001"), rounding=ROUND_CEILING)


class Usage(TypedDict):
    prompt_tokens: int
    cached_tokens: int
    cache_write_tokens: int
    completion_tokens: int
    reasoning_tokens: int


USAGE: Usage = {"prompt_tokens": 12_345, "cached_tokens": 7_001, "cache_write_tokens": 3_003,
                "completion_tokens": 1_777, "reasoning_tokens": 999}


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_exact_cost_with_cache_reads_writes_and_reasoning(gateway: Gateway, fake_openai: FakeOpenAI,
                                                          stream: bool) -> None:
    fake_openai.default = Script(text="thought through", reasoning="let me think", **USAGE)
    key = gateway.account("exact", "pro", "5")
    client = gateway.client(key)
    kwargs: dict[str, Any] = {"model": "sonnet", "messages": [{"role": "user", "content": "plan it"}],
                              "reasoning_effort": "high"}
    if stream:
        chunks = list(client.chat.completions.create(stream=True, stream_options={"include_usage": True},
                                                     **kwargs))
        usage = chunks[-1].usage
        completion_id = chunks[0].id
    else:
        reply = client.chat.completions.create(**kwargs)
        usage, completion_id = reply.usage, reply.id
    assert usage is not None
    want = expected_usd(12_345, 7_001, 3_003, 1_777)
    assert want != expected_usd(12_345, 0, 0, 1_777)  # the split matters
    assert Decimal(str(extras(usage)["credits_used_usd"])) == want
    assert usage.prompt_tokens == 12_345 and usage.completion_tokens == 1_777
    assert usage.prompt_tokens_details is not None and usage.prompt_tokens_details.cached_tokens == 7_001
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 999
    row = [r for r in gateway.ledger("exact") if r["kind"] == "charge"][0]
    assert Decimal(-row["amount_nano"]) / 1_000_000_000 == want
    assert completion_id == f"chatcmpl-{row['request_id']}"
    assert {k: row[k] for k in USAGE} == USAGE
    assert row["model_used"] == "sonnet" and row["provider"] == "up" and row["outcome"] == "ok"
    assert row["latency_ms"] > 0 and row["ttft_ms"] is not None and row["ttft_ms"] <= row["latency_ms"]


def get(gateway: Gateway, path: str, key: str) -> dict[str, Any]:
    reply = http.get(f"{gateway.base_url}{path}", headers={"Authorization": f"Bearer {key}"})
    assert reply.status_code == 200, reply.text
    return dict(reply.json())


def test_usage_and_balance_match_the_ledger(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    key = gateway.account("meter", "pro", "2.5")
    client = gateway.client(key)
    scripts = [Script(prompt_tokens=1000, completion_tokens=100, cached_tokens=400),
               Script(prompt_tokens=2000, completion_tokens=50, reasoning_tokens=20),
               Script(prompt_tokens=30, completion_tokens=7)]
    for script, model in zip(scripts, ["sonnet", "sonnet", "cheap"], strict=True):
        fake_openai.push(script)
        client.chat.completions.create(model=model, messages=[{"role": "user", "content": "go"}])
    charges = [r for r in gateway.ledger("meter") if r["kind"] == "charge"]
    usage = get(gateway, "/usage", key)
    assert usage["object"] == "usage" and usage["account"] == "meter" and usage["currency"] == "USD"
    assert usage["held_usd"] == 0
    by_model = {m["model"]: m for m in usage["models"]}
    assert set(by_model) == {"sonnet", "cheap"}
    for model, entry in by_model.items():
        rows = [r for r in charges if r["model_used"] == model]
        assert entry["requests"] == len(rows)
        for field in ("prompt_tokens", "cached_tokens", "completion_tokens", "reasoning_tokens"):
            assert entry[field] == sum(r[field] for r in rows)
        assert round(entry["cost_usd"] * 1e9) == -sum(r["amount_nano"] for r in rows)
    assert usage["total"]["requests"] == 3
    assert round(usage["total"]["cost_usd"] * 1e9) == -sum(r["amount_nano"] for r in charges)
    final = gateway.ledger("meter")[-1]["balance_after_nano"]
    assert round(usage["balance_usd"] * 1e9) == final
    balance = get(gateway, "/balance", key)
    assert balance == {"object": "balance", "balance_usd": final / 1e9, "held_usd": 0.0,
                       "available_usd": final / 1e9, "currency": "USD", "account": "meter", "tier": "pro"}


def write_config(gateway: Gateway, tmp_path: Path, fake: FakeOpenAI) -> str:
    path = tmp_path / "farebox.yaml"
    path.write_text(f"database: {gateway.config.database}\n" + CONFIG % fake.base_url + TIERS)
    return str(path)


def test_db_check_fails_on_a_corrupted_balance_and_ledger_csv(gateway: Gateway, fake_openai: FakeOpenAI,
                                                              tmp_path: Path) -> None:
    key = gateway.account("audited", "pro", "1")
    gateway.client(key).chat.completions.create(model="cheap", messages=[{"role": "user", "content": "x"}])
    config = write_config(gateway, tmp_path, fake_openai)
    runner = CliRunner()
    ok = runner.invoke(cli, ["db", "check", "--config", config, "--json"])
    assert ok.exit_code == 0, ok.output
    exported = runner.invoke(cli, ["ledger", "audited", "--csv", "--config", config])
    assert exported.exit_code == 0, exported.output
    rows = list(csv.DictReader(io.StringIO(exported.stdout)))
    assert [r["kind"] for r in rows] == ["topup", "charge"]
    assert [int(r["amount_nano"]) for r in rows] == [r["amount_nano"] for r in gateway.ledger("audited")]
    assert rows[1]["model_used"] == "cheap" and rows[1]["request_id"]

    database = gateway.config.database.removeprefix("sqlite:///")
    with sqlite3.connect(database) as conn:
        conn.execute("UPDATE accounts SET balance_nano = balance_nano + 1 WHERE name = 'audited'")
    bad = runner.invoke(cli, ["db", "check", "--config", config])
    assert bad.exit_code == 1
    assert "out of balance" in bad.output
