"""Shared set-up for the resilience tests: one model with a primary and a backup deployment,
each on its own fake upstream, with small timeouts so failures show up fast."""

from __future__ import annotations

import json
import socket
from collections.abc import Callable
from typing import Any

from tests.support.gateway import Gateway

TIMEOUTS = "{connect: 1, first_byte: 0.5, idle: 0.5, total: 1}"
CONFIG = """
failover: {max_attempts: 4, deadline: 10, backoff_base: 0.01, backoff_max: 0.05}
circuit: {consecutive_failures: 3, error_rate: 0.5, window: 20, cooldown: 0.5}
providers:
  primary: {kind: openai, base_url: "%(primary)s", api_key: primary-secret, timeouts: %(timeouts)s}
  backup: {kind: openai, base_url: "%(backup)s", api_key: backup-secret, timeouts: %(timeouts)s}
models:
  coder:
    tier: starter
    price: {input: 0.20, output: 0.60}
    deployments:
      - {provider: primary, model: m-primary, priority: 1}
      - {provider: backup, model: m-backup, priority: 2}
  solo:
    tier: starter
    price: {input: 0.20, output: 0.60}
    deployments: [{provider: primary, model: m-solo}]
  cheap:
    tier: starter
    price: {input: 0.10, output: 0.30}
    deployments: [{provider: primary, model: m-cheap}]
  pricier:
    tier: starter
    price: {input: 1.00, output: 2.00}
    deployments: [{provider: backup, model: m-pricier}]
"""
PRIMARY, BACKUP = "primary/m-primary", "backup/m-backup"
IN_NANO, OUT_NANO = 200, 600  # coder: 0.20 / 0.60 USD per 1M tokens


def closed_port_url() -> str:
    """A loopback URL nothing listens on (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/v1"


def start_gateway(make_gateway: Callable[[str], Gateway], primary_url: str, backup_url: str,
                  extra: str = "", timeouts: str = TIMEOUTS) -> Gateway:
    text = CONFIG % {"primary": primary_url, "backup": backup_url, "timeouts": timeouts}
    return make_gateway(extra + text)




def attempts_of(row: dict[str, Any]) -> list[dict[str, Any]]:
    return list(json.loads(row["attempts"])) if row["attempts"] else []


def sse_events(body: str) -> list[dict[str, Any]]:
    """The JSON events of an SSE body (without [DONE])."""
    frames = [f.removeprefix("data: ") for f in body.split("\n\n") if f.startswith("data: ")]
    return [json.loads(f) for f in frames if f != "[DONE]"]


def sse_text(body: str) -> str:
    return "".join(c["delta"].get("content") or "" for e in sse_events(body) for c in e.get("choices") or ())
