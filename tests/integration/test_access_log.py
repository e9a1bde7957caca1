"""The access log of a real `farebox serve`: one JSON line per request, refusals included, with
what an operator needs (request id, key prefix, models, status, tokens, cost, latency) and never
the key or the conversation."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import openai
import pytest

from tests.support.processes import GatewayProcess, cli
from tests.support.sdk import extras

CONFIG = """
database: sqlite:///{db}
tiers: {{free: {{rank: 1, rpm: 600, burst_rpm: 6000}}}}
providers: {{noop: {{kind: noop}}}}
models:
  echo:
    tier: free
    context: 8192
    max_output: 256
    price: {{input: 1.0, output: 2.0}}
    deployments: [{{provider: noop, model: noop-test}}]
log_requests: {log_requests}
"""
SECRET_PROMPT = "the launch code is swordfish"


def serve(tmp_path: Path, log_requests: bool) -> tuple[GatewayProcess, str]:
    config = tmp_path / "farebox.yaml"
    config.write_text(CONFIG.format(db=tmp_path / "farebox.db", log_requests=str(log_requests).lower()))
    assert cli("accounts", "create", "acme", "--tier", "free", "--config", str(config)).returncode == 0
    assert cli("credits", "add", "acme", "5", "--config", str(config)).returncode == 0
    created = cli("keys", "create", "acme", "--json", "--config", str(config))
    key = json.loads(created.stdout)["key"]
    return GatewayProcess(config, tmp_path / "gateway.log").wait_ready(), key


def access_lines(log: Path) -> list[dict[str, Any]]:
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    return [line for line in lines if line.get("logger") == "farebox.access"]


@pytest.mark.slow
def test_one_line_per_request(tmp_path: Path) -> None:
    gateway, key = serve(tmp_path, log_requests=True)
    try:
        client = openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0)
        reply = client.chat.completions.create(model="echo", messages=[{"role": "user", "content": SECRET_PROMPT}])
        chunks = list(client.chat.completions.create(model="echo", stream=True,
                                                     messages=[{"role": "user", "content": SECRET_PROMPT}]))
        with pytest.raises(openai.NotFoundError):
            client.chat.completions.create(model="nope", messages=[{"role": "user", "content": "hi"}])
        with pytest.raises(openai.BadRequestError):
            client.chat.completions.create(model="echo", messages=[])
    finally:
        assert gateway.stop() == 0  # a clean stop flushes the buffered lines
    text = gateway.log.read_text()
    assert SECRET_PROMPT not in text and key not in text and "swordfish" not in text
    ok, streamed, refused, invalid = access_lines(gateway.log)
    assert ok["request_id"] == reply.id.removeprefix("chatcmpl-") and ok["status"] == 200
    assert ok["key"] == key[:11] and ok["account"] == "acme" and ok["stream"] is False
    assert ok["model"] == ok["model_used"] == "echo" and ok["deployment"] == "noop/noop-test"
    assert reply.usage is not None and ok["prompt_tokens"] == reply.usage.prompt_tokens
    assert ok["completion_tokens"] == reply.usage.completion_tokens and ok["outcome"] == "ok"
    assert ok["cost_usd"] == pytest.approx(extras(reply.usage)["credits_used_usd"])
    assert ok["latency_ms"] >= 0 and abs(ok["ts"] - time.time()) < 120 and ok["level"] == "info"
    assert streamed["request_id"] == chunks[0].id.removeprefix("chatcmpl-") and streamed["stream"] is True
    assert streamed["status"] == 200 and streamed["cost_usd"] > 0
    assert refused["status"] == 404 and refused["model"] == "nope" and refused["key"] == key[:11]
    assert invalid["status"] == 400 and invalid["key"] == key[:11]  # a body that failed to parse: no model


@pytest.mark.slow
def test_log_requests_false_leaves_no_access_lines(tmp_path: Path) -> None:
    gateway, key = serve(tmp_path, log_requests=False)
    try:
        client = openai.OpenAI(base_url=gateway.base_url, api_key=key, max_retries=0)
        client.chat.completions.create(model="echo", messages=[{"role": "user", "content": "hi"}])
    finally:
        assert gateway.stop() == 0
    assert access_lines(gateway.log) == []
    assert "serving on" in gateway.log.read_text()
