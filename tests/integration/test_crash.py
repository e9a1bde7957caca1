"""SIGKILL the gateway while JSON and streaming requests are in flight, restart it on the same
database: every answer a client received in full is in the ledger once, the dead process's holds
are gone, and `farebox db check` passes."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import openai
import pytest

import farebox
from farebox.config import load_config
from farebox.services.operator import Operator
from farebox.storage.db import create_engine, migrate
from farebox.storage.repository import Repository
from tests.fakes.fake_openai import FakeOpenAI, Script
from tests.support import http
from tests.support.gateway import TIERS
from tests.support.sdk import extras

CONFIG = """
database: sqlite:///{db}
providers:
  up: {{kind: openai, base_url: "{upstream}"}}
models:
  coder:
    tier: starter
    context: 8192
    max_output: 256
    price: {{input: 0.5, output: 1.5, cached_input: 0.1}}
    deployments: [{{provider: up, model: upstream-coder}}]
"""
SRC = str(Path(farebox.__file__).resolve().parents[1])


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def farebox_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "farebox", *args]


def env() -> dict[str, str]:
    return dict(os.environ, PYTHONPATH=SRC + os.pathsep + os.environ.get("PYTHONPATH", ""))


class Server:
    def __init__(self, config: Path, log: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = log.open("ab")
        self.process = subprocess.Popen(
            farebox_cmd("serve", "--config", str(config), "--port", str(self.port), "--no-demo"),
            stdout=self.log, stderr=subprocess.STDOUT, env=env())
        deadline = time.monotonic() + 20
        while True:
            assert self.process.poll() is None, log.read_text()
            try:
                if http.get(f"{self.url}/health", timeout=1).status_code == 200:
                    return
            except OSError:
                pass
            assert time.monotonic() < deadline, "the gateway did not come up"
            time.sleep(0.05)

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(10)
        self.log.close()

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        self.log.close()


def seed(config_path: Path) -> str:
    config, _ = load_config(str(config_path))
    migrate(config.database)

    async def setup() -> str:
        engine = create_engine(config.database)
        try:
            op = Operator(Repository(engine), config)
            await op.create_account("crash", "pro")
            await op.post_credit("crash", "50")
            return str((await op.create_key("crash"))["key"])
        finally:
            await engine.dispose()

    return asyncio.run(setup())


class Load:
    """Threads firing JSON and streaming requests until stopped; records complete answers."""

    def __init__(self, base_url: str, key: str, threads: int = 8) -> None:
        self.client = openai.OpenAI(base_url=base_url, api_key=key, max_retries=0, timeout=20)
        self.stop = threading.Event()
        self.complete: list[str] = []
        self.broken = 0
        self.lock = threading.Lock()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True) for i in range(threads)]

    def start(self) -> None:
        for thread in self.threads:
            thread.start()

    def join(self) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(30)

    def _run(self, index: int) -> None:
        stream = index % 2 == 1
        while not self.stop.is_set():
            try:
                completion_id = self._stream() if stream else self._json()
            except Exception:  # the kill cuts requests in any state
                with self.lock:
                    self.broken += 1
                continue
            if completion_id:
                with self.lock:
                    self.complete.append(completion_id)

    def _json(self) -> str | None:
        reply = self.client.chat.completions.create(model="coder", messages=[{"role": "user", "content": "hi"}])
        extra: dict[str, Any] = (reply.usage.model_extra if reply.usage else None) or {}
        return reply.id if "credits_used_usd" in extra else None

    def _stream(self) -> str | None:
        chunks = list(self.client.chat.completions.create(
            model="coder", messages=[{"role": "user", "content": "hi"}], stream=True,
            stream_options={"include_usage": True}))
        # The SDK returns only after [DONE]; a cut connection raises instead.
        final = chunks[-1]
        return final.id if final.usage is not None and not final.choices else None


@pytest.mark.slow
def test_sigkill_mid_flight_loses_no_billed_answer(tmp_path: Path, fake_openai: FakeOpenAI) -> None:
    fake_openai.default = Script(text="a slow and steady answer from upstream", latency=0.15,
                                 chunk_delay=0.04, prompt_tokens=40, completion_tokens=9)
    config = tmp_path / "farebox.yaml"
    config.write_text(CONFIG.format(db=tmp_path / "farebox.db", upstream=fake_openai.base_url) + TIERS)
    key = seed(config)
    first = Server(config, tmp_path / "gateway1.log")
    load = Load(f"{first.url}/v1", key)
    try:
        load.start()
        deadline = time.monotonic() + 15
        while len(load.complete) < 20:  # enough answers, and requests in flight at every moment
            assert time.monotonic() < deadline, "no traffic got through"
            time.sleep(0.05)
        time.sleep(0.1)
        first.kill()
    finally:
        load.join()
        first.stop()
    assert load.broken >= 1, "the kill should have cut requests in flight"

    second = Server(config, tmp_path / "gateway2.log")
    try:
        balance = http.get(f"{second.url}/v1/balance", headers={"Authorization": f"Bearer {key}"}).json()
        assert balance["held_usd"] == 0 and balance["available_usd"] == balance["balance_usd"]
        with sqlite3.connect(tmp_path / "farebox.db") as conn:
            charged = [r[0] for r in conn.execute("SELECT request_id FROM ledger WHERE kind = 'charge'")]
            last_balance = conn.execute("SELECT balance_after_nano FROM ledger ORDER BY id DESC").fetchone()[0]
        assert len(charged) == len(set(charged))
        missing = [cid for cid in load.complete if cid.removeprefix("chatcmpl-") not in set(charged)]
        assert not missing, f"{len(missing)} answered requests are not in the ledger"
        assert len(set(load.complete)) == len(load.complete)
        assert round(balance["balance_usd"] * 1e9) == last_balance
        check = subprocess.run(farebox_cmd("db", "check", "--config", str(config)), capture_output=True,
                               env=env(), timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        # The restarted gateway serves and bills as before.
        after = openai.OpenAI(base_url=f"{second.url}/v1", api_key=key, max_retries=0).chat.completions.create(
            model="coder", messages=[{"role": "user", "content": "again"}])
        assert extras(after.usage)["credits_used_usd"] > 0
    finally:
        second.stop()
