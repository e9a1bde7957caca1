"""The README's first command, as a new user runs it: `farebox serve` on the built-in default
prints a demo key and an admin key once, and the README's admin example works with that key.
With an operator's own config, no demo account appears, and a short admin key is refused."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from tests.support import http
from tests.support.processes import cli, env
from tests.support.redis_server import free_port


def serve_builtin(cwd: Path, port: int) -> tuple[subprocess.Popen[str], dict[str, str]]:
    """Start `farebox serve` with no config in `cwd`; return it and its printed lines by label."""
    clean_env = {k: v for k, v in env().items() if k not in ("FAREBOX_CONFIG", "FAREBOX_ADMIN_KEY")}
    process = subprocess.Popen([sys.executable, "-m", "farebox", "serve", "--port", str(port)], cwd=cwd,
                               env=clean_env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    printed: dict[str, str] = {}
    assert process.stdout is not None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            break
        label, _, value = line.strip().partition(": ")
        if label in ("demo key", "admin key"):
            printed[label] = value
        if line.startswith("farebox serving on"):
            printed["serving"] = line.strip()
            break
    return process, printed


def wait_health(port: int) -> None:
    for _ in range(200):
        try:
            if http.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("not serving")


def test_builtin_default_prints_working_demo_and_admin_keys_once(tmp_path: Path) -> None:
    port = free_port()
    process, printed = serve_builtin(tmp_path, port)
    try:
        assert "serving" in printed, printed
        demo, admin = printed["demo key"], printed["admin key"]
        assert demo.startswith("sk-") and admin.startswith("fbadmin-") and len(admin) >= 32
        wait_health(port)
        base = f"http://127.0.0.1:{port}"
        # The README's admin example, as printed.
        reply = http.post(f"{base}/admin/v1/credits", json_body={"account": "demo", "amount_usd": "25.00",
                                                                 "note": "invoice 17"},
                          headers={"Authorization": f"Bearer {admin}", "Idempotency-Key": "stripe_evt_123"})
        assert reply.status_code == 201, reply.text
        assert reply.json()["balance_after_usd"] == 30.0
        chat = http.post(f"{base}/v1/chat/completions", headers={"Authorization": f"Bearer {demo}"},
                         json_body={"model": "noop-test", "messages": [{"role": "user", "content": "Hello!"}]})
        assert chat.status_code == 200, chat.text
        # The demo key is no admin key, and the admin key is no customer key.
        assert http.get(f"{base}/admin/v1/accounts", headers={"Authorization": f"Bearer {demo}"}).status_code == 401
        assert http.get(f"{base}/v1/models", headers={"Authorization": f"Bearer {admin}"}).status_code == 401
    finally:
        process.terminate()
        process.wait(30)
    stored = (tmp_path / "farebox.db").read_bytes().decode("latin-1")
    assert printed["admin key"] not in stored and printed["admin key"][12:] not in stored  # its hash only
    process, again = serve_builtin(tmp_path, port)  # a second start prints no new keys
    process.terminate()
    process.wait(30)
    assert "serving" in again and "demo key" not in again and "admin key" not in again


def test_own_config_gets_no_demo_account_and_short_admin_keys_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "farebox.yaml"
    config.write_text(f"database: sqlite:///{tmp_path / 'own.db'}\nadmin_key: short-key\n"
                      "providers: {noop: {kind: noop}}\n"
                      "models: {noop-test: {tier: starter, price: {input: 0.1, output: 0.4}, "
                      "deployments: [{provider: noop, model: noop-test}]}}\n"
                      "tiers: {starter: {rank: 1, rpm: 60, burst_rpm: 120}}\n")
    result = cli("serve", "--config", str(config), "--port", str(free_port()), timeout=30)
    assert result.returncode == 2 and "at least 32 characters" in result.stderr
    assert "serving on" not in result.stdout
    config.write_text(config.read_text().replace("short-key", "k" * 40))
    port = free_port()
    process = subprocess.Popen([sys.executable, "-m", "farebox", "serve", "--config", str(config), "--port",
                                str(port)], env=env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        wait_health(port)
    finally:
        process.terminate()
        out, _ = process.communicate(timeout=30)
    assert "demo key" not in out and "admin key" not in out
    listed = cli("accounts", "list", "--config", str(config), "--json")
    assert listed.returncode == 0 and listed.stdout.strip() == "[]"
