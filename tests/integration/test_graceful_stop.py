"""Stopping a gateway (the app's on_shutdown, as `farebox serve` runs it on SIGTERM): the
listening socket closes at once, streams that end within `listen.shutdown_grace_s` complete and
are billed; the rest are cancelled after the grace and billed as `abandoned` for what they
delivered, before the ledger stops."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

from tests.fakes.fake_openai import FakeOpenAI, Script
from tests.support.gateway import Gateway
from tests.support.stopping import StreamClient, charges

OUT_NANO = 1_000_000  # output at 1000 USD / 1M tokens; input free: the charge counts delivered tokens
CONFIG = """
listen: {{shutdown_grace_s: {grace}}}
providers:
  up: {{kind: openai, base_url: "{upstream}"}}
models:
  m:
    tier: pro
    max_output: 1000
    price: {{input: 0, output: 1000}}
    deployments: [{{provider: up, model: m-upstream}}]
"""


def start(tmp_path: Path, fake_openai: FakeOpenAI, grace: float, words: int, gap: float,
          streams: int) -> tuple[Gateway, list[StreamClient]]:
    fake_openai.default = Script(text=" ".join(["hello"] * words), chunk_delay=gap, completion_tokens=words)
    gateway = Gateway(CONFIG.format(grace=grace, upstream=fake_openai.base_url), tmp_path).start()
    key = gateway.account("ann", usd="100")
    clients = [StreamClient(gateway.base_url, key) for _ in range(streams)]
    for client in clients:
        client.start()
    for client in clients:
        assert client.started.wait(20) and client.error is None, client.error
    return gateway, clients


def test_streams_ending_within_the_grace_complete_and_new_connections_are_refused(
        tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    gateway, clients = start(tmp_path, fake_openai, grace=20, words=30, gap=0.05, streams=3)
    port = gateway.server.port
    stopper = threading.Thread(target=gateway.stop)
    started = time.monotonic()
    stopper.start()
    time.sleep(0.3)
    with socket.socket() as sock:  # the listening socket closed first
        assert sock.connect_ex(("127.0.0.1", port)) != 0
    stopper.join(30)
    assert time.monotonic() - started < 20  # it waited for the streams, not for the grace
    rows = charges(gateway.config.database)
    for client in clients:
        client.join(10)
        assert client.completed, client.error
        assert client.words == 30
        row = rows[client.request_id or ""]
        assert row["outcome"] == "ok" and row["completion_tokens"] >= 30
        assert -row["amount_nano"] == row["completion_tokens"] * OUT_NANO


def test_streams_past_the_grace_are_cancelled_and_billed_as_abandoned(
        tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    gateway, clients = start(tmp_path, fake_openai, grace=1, words=400, gap=0.05, streams=3)
    started = time.monotonic()
    gateway.stop()
    elapsed = time.monotonic() - started
    assert 1 <= elapsed < 1 + 3  # the grace, then the cancelled handlers' cleanup (CANCEL_WAIT at most)
    rows = charges(gateway.config.database)
    for client in clients:
        client.join(10)
        assert not client.completed and 0 < client.words < 400
        row = rows[client.request_id or ""]
        assert row["outcome"] == "abandoned"
        assert row["completion_tokens"] >= client.words  # billed for at least what was delivered
        assert -row["amount_nano"] >= client.words * OUT_NANO
