"""`farebox serve` says "serving on" only once it listens, and a port in use is one clear line on
stderr and exit code 1, with no "serving on" line, for one process and for `--workers 2`."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import cli, env
from tests.support.redis_server import REDIS_SERVER, RedisServer, free_port

CONFIG = """
database: sqlite:///{db}
{redis}
tiers: {{free: {{rank: 1, rpm: 60}}}}
providers: {{fake: {{kind: noop}}}}
models: {{}}
"""
WORKERS = [pytest.param(1, id="one-process"),
           pytest.param(2, id="two-workers", marks=[pytest.mark.redis, pytest.mark.slow, pytest.mark.skipif(
               REDIS_SERVER is None, reason="redis-server is not installed")])]


@pytest.fixture
def config(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Path]:
    """A config; with Redis when the test runs two workers."""
    path = tmp_path / "farebox.yaml"
    if request.node.callspec.params["workers"] == 1:
        path.write_text(CONFIG.format(db=tmp_path / "farebox.db", redis=""))
        yield path
        return
    with RedisServer(tmp_path) as redis_server:
        path.write_text(CONFIG.format(db=tmp_path / "farebox.db", redis=f"redis: {redis_server.url}"))
        yield path


def human_lines(text: str) -> list[str]:
    """stderr without the JSON log lines (migrations and such)."""
    lines = []
    for line in text.splitlines():
        try:
            json.loads(line)
        except ValueError:
            lines.append(line)
    return lines


@pytest.mark.parametrize("workers", WORKERS)
def test_a_port_in_use_is_one_line_and_exit_1(config: Path, workers: int) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("serve", "--config", str(config), "--port", str(port), "--no-demo", "--workers", str(workers))
    assert result.returncode == 1
    assert "serving on" not in result.stdout + result.stderr
    assert human_lines(result.stderr) == [f"cannot listen on 127.0.0.1:{port}: Address already in use"]


@pytest.mark.parametrize("workers", WORKERS)
def test_serving_on_is_printed_once_the_socket_listens(config: Path, workers: int) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "farebox", "serve", "--config", str(config), "--port", str(port), "--no-demo",
         "--workers", str(workers)], env=env(), stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        assert line.startswith(f"farebox serving on http://127.0.0.1:{port} "), line
        socket.create_connection(("127.0.0.1", port), timeout=1).close()  # right after the line
    finally:
        process.terminate()
        assert process.wait(30) == 0
