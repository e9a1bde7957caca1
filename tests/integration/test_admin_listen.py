"""`admin_listen` keeps the admin API off the public listener: /admin/v1 answers only on its own
address, the customer API only on the main one."""

from __future__ import annotations

from pathlib import Path

from tests.support import http
from tests.support.processes import GatewayProcess
from tests.support.redis_server import free_port

ADMIN_KEY = "a" * 40


def test_admin_api_only_on_its_own_listener(tmp_path: Path) -> None:
    admin_port = free_port()
    config = tmp_path / "farebox.yaml"
    config.write_text(f"database: sqlite:///{tmp_path / 'f.db'}\nadmin_key: {ADMIN_KEY}\n"
                      f"admin_listen: {{host: 127.0.0.1, port: {admin_port}}}\n"
                      "providers: {noop: {kind: noop}}\n"
                      "models: {noop-test: {tier: starter, price: {input: 0.1, output: 0.4}, "
                      "deployments: [{provider: noop, model: noop-test}]}}\n"
                      "tiers: {starter: {rank: 1, rpm: 600, burst_rpm: 1200}}\n")
    gateway = GatewayProcess(config, tmp_path / "serve.log").wait_ready()
    try:
        auth = {"Authorization": f"Bearer {ADMIN_KEY}"}
        public = f"http://127.0.0.1:{gateway.port}"
        admin = f"http://127.0.0.1:{admin_port}"
        assert http.get(f"{public}/admin/v1/accounts", headers=auth).status_code == 404
        created = http.post(f"{admin}/admin/v1/accounts", headers=auth, json_body={"name": "acme", "tier": "starter"})
        assert created.status_code == 201, created.text
        assert http.get(f"{admin}/admin/v1/accounts", headers=auth).json()["data"][0]["name"] == "acme"
        assert http.get(f"{admin}/v1/models", headers=auth).status_code == 404
        assert http.get(f"{admin}/health").status_code == 200
        key = http.post(f"{admin}/admin/v1/accounts/acme/keys", headers=auth, json_body={}).json()["key"]
        assert http.get(f"{public}/v1/models", headers={"Authorization": f"Bearer {key}"}).status_code == 200
    finally:
        assert gateway.stop() == 0
