"""Drive farebox through its CLI: bench config, account, credit, key, serve, ledger count.

The command comes from --farebox-cmd, e.g. `.venv/bin/farebox` or
`PYTHONPATH=src /work/main/.venv/bin/python -m farebox`: leading NAME=value words are
environment, relative paths are taken from the repo root (the working directory of every call).
"""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import sqlite3
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import procs

REPO = Path(__file__).resolve().parent.parent
ACCOUNT = "bench"
TIER = "bench"
NEVER = 100_000_000  # requests per minute: the limiter runs but never says no
# model id -> provider name; the provider names are filled with ports in write_config.
MODELS = {"bench-json": "fast-json", "bench-stream": "fast-stream", "bench-slow": "slow"}


class Unavailable(Exception):
    """farebox cannot be run with this command (not installed yet, or broken)."""


@dataclass
class Farebox:
    argv: list[str]
    env: dict[str, str]
    config: Path
    db: Path

    @classmethod
    def from_command(cls, command: str, tmp: Path, config_name: str = "farebox-bench.yaml") -> Farebox:
        """config_name: a file in tmp; every variant shares tmp/bench.db, so the ledger check
        reads one file whichever config served."""
        words = shlex.split(command)
        env: dict[str, str] = {}
        while words and re.fullmatch(r"[A-Za-z_][A-Za-z0-9_]*=.*", words[0]):
            name, _, value = words.pop(0).partition("=")
            env[name] = value
        if not words:
            raise Unavailable(f"--farebox-cmd {command!r} names no program")
        exe = words[0]
        found = shutil.which(exe, path=str(REPO)) if "/" not in exe else None
        found = found or shutil.which(exe) or (str(REPO / exe) if (REPO / exe).is_file() else None)
        if not found:
            raise Unavailable(f"{exe} not found (the farebox CLI is not installed in this checkout)")
        env["FAREBOX_CONFIG"] = str(tmp / config_name)
        return cls([found, *words[1:]], env, tmp / config_name, tmp / "bench.db")

    def run(self, *args: str, timeout: float = 60.0) -> str:
        result = subprocess.run(
            [*self.argv, *args],
            cwd=REPO,
            env={**os.environ, **self.env},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        if result.returncode != 0:
            raise RuntimeError(
                f"farebox {' '.join(args)} failed ({result.returncode}):\n{result.stderr}{result.stdout}"
            )
        return result.stdout

    def check(self) -> None:
        """Raise Unavailable unless `farebox serve --help` works."""
        try:
            self.run("serve", "--help", timeout=60)
        except (RuntimeError, OSError, subprocess.TimeoutExpired) as exc:
            raise Unavailable(str(exc).strip().splitlines()[-1] if str(exc).strip() else repr(exc)) from None

    def write_config(
        self, port: int, upstreams: dict[str, str], log_requests: bool = True, redis: str | None = None
    ) -> None:
        """upstreams: provider name -> base URL (with /v1); redis: a URL to share holds and rate
        limits through (the scale-out configuration). JSON is YAML, so no yaml dependency."""
        config: dict[str, Any] = {
            "database": f"sqlite:///{self.db}",
            "listen": {"host": "127.0.0.1", "port": port},
            "tiers": {TIER: {"rank": 1, "rpm": NEVER, "burst_rpm": NEVER}},
            "providers": {name: {"kind": "openai", "base_url": url} for name, url in upstreams.items()},
            "models": {
                model: {
                    "tier": TIER,
                    "context": 32768,
                    "max_output": 4096,
                    "price": {"input": 0.15, "output": 0.60},
                    "deployments": [{"provider": provider, "model": "gpt-4o-mini"}],
                }
                for model, provider in MODELS.items()
            },
        }
        if not log_requests:
            config["log_requests"] = False
        if redis:
            config["redis"] = redis
        self.config.write_text(json.dumps(config, indent=2) + "\n")

    def setup_account(self, account: str = ACCOUNT) -> str:
        """Create an account with credit and return a fresh API key."""
        self.run("accounts", "create", account, "--tier", TIER, "--json")
        self.run("credits", "add", account, "1000000", "--json")
        created: dict[str, Any] = json.loads(self.run("keys", "create", account, "--json"))
        return str(created["key"])

    def serve(
        self, port: int, cpu: int | str, log_dir: Path, workers: int = 1, name: str = "farebox"
    ) -> procs.Proc:
        """cpu: a core, or a taskset list ("0,1") the workers share."""
        argv = [*self.argv, "serve", "--no-demo", "--port", str(port)]
        if workers > 1:
            argv += ["--workers", str(workers)]
        return procs.start(name, argv, cpu, log_dir, env=self.env, cwd=REPO)

    def charges(self) -> int:
        """Ledger charge rows so far: straight from SQLite (exact, no paging, no process to start);
        the CLI's `ledger --json` when the table is not where we expect it."""
        try:
            with sqlite3.connect(f"file:{self.db}?mode=ro", uri=True, timeout=10) as db:
                return int(db.execute("select count(*) from ledger where kind = 'charge'").fetchone()[0])
        except sqlite3.Error:
            rows = json.loads(self.run("ledger", ACCOUNT, "--json"))
            return sum(1 for row in rows if row.get("kind") == "charge")

    def settled_charges(self, timeout: float = 10.0) -> int:
        """The charge count once it stops moving (ledger writes may be group-committed)."""
        deadline = time.monotonic() + timeout
        last = self.charges()
        while time.monotonic() < deadline:
            time.sleep(0.3)
            now = self.charges()
            if now == last:
                return now
            last = now
        return last
