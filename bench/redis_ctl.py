"""A throwaway redis-server for the scale group: loopback, no persistence, stopped by PID."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import procs


def start(redis_server: str, port: int, cpu: int, log_dir: Path) -> procs.Proc:
    """redis-server in the foreground, pinned; nothing written to disk (no RDB, no AOF)."""
    argv = [redis_server, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
    argv += ["--daemonize", "no", "--dir", str(log_dir)]
    return procs.start("redis", argv, cpu, log_dir)


def ping(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1.0) as s:
            s.sendall(b"PING\r\n")
            return s.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def wait_ready(proc: procs.Proc, port: int, timeout: float = 20.0) -> None:
    """Poll with PING until redis answers PONG; fail early if it died."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"redis exited with {proc.popen.returncode}:\n{proc.tail()}")
        if ping(port):
            return
        time.sleep(0.05)
    raise RuntimeError(f"redis not ready on port {port} after {timeout:.0f} s:\n{proc.tail()}")


def url(port: int) -> str:
    return f"redis://127.0.0.1:{port}/0"
