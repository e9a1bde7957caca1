"""Load generation with wrk (one thread, pinned) and the tools the bench needs."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
SCRIPT = HERE / "wrk" / "chat.lua"
# Debian names; nginx-light is the smallest nginx build and has everything the bench uses.
PACKAGES = {"nginx": "nginx-light", "wrk": "wrk", "taskset": "util-linux", "redis-server": "redis-server"}
NEEDED = ("nginx", "wrk", "taskset")  # redis-server only for the scale group


def find_tool(name: str) -> str | None:
    return shutil.which(name) or shutil.which(name, path="/usr/sbin:/sbin")


def ensure_tools(names: Sequence[str] = NEEDED) -> dict[str, str]:
    """Paths of the tools named (keys of PACKAGES); install the missing ones with apt-get when root."""
    missing = [name for name in names if not find_tool(name)]
    if missing:
        packages = [PACKAGES[name] for name in missing]
        if os.geteuid() != 0:
            sys.exit(f"bench needs {', '.join(missing)}: run `sudo apt-get install {' '.join(packages)}`")
        print(f"installing {' '.join(packages)} with apt-get ...", flush=True)
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        subprocess.run(["apt-get", "update", "-qq"], check=True, env=env)
        subprocess.run(["apt-get", "install", "-y", "-qq", *packages], check=True, env=env)
    paths = {name: find_tool(name) for name in names}
    lost = [name for name, path in paths.items() if not path]
    if lost:
        sys.exit(f"bench: {', '.join(lost)} still not found after installing")
    return {name: str(path) for name, path in paths.items()}


@dataclass
class WrkResult:
    requests: int
    seconds: float
    non200: int
    socket_errors: int  # connect, read, write and timeout errors
    p50_ms: float
    p90_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def ok(self) -> int:
        return self.requests - self.non200

    @property
    def errors(self) -> int:
        return self.non200 + self.socket_errors


def _parse(out: str) -> WrkResult:
    line = next((ln for ln in out.splitlines() if ln.startswith("BENCH_JSON ")), None)
    if line is None:
        raise RuntimeError(f"wrk printed no summary:\n{out}")
    data: dict[str, Any] = json.loads(line.removeprefix("BENCH_JSON "))
    errs = data["errors"]
    lat = data["latency_us"]
    return WrkResult(
        requests=data["requests"],
        seconds=data["duration_us"] / 1e6,
        non200=data["non200"],
        socket_errors=errs["connect"] + errs["read"] + errs["write"] + errs["timeout"],
        p50_ms=lat["p50"] / 1000,
        p90_ms=lat["p90"] / 1000,
        p99_ms=lat["p99"] / 1000,
    )


def run_wrk(
    wrk: str, url: str, body_file: Path, conns: int, seconds: int, cpu: int, key: str = ""
) -> WrkResult:
    """One wrk run (one thread, `conns` keep-alive connections) of POSTs to url."""
    argv = ["taskset", "-c", str(cpu), wrk, "-t1", f"-c{conns}", f"-d{seconds}s", "--timeout", "10s"]
    argv += ["-s", str(SCRIPT), url]
    env = {**os.environ, "BENCH_BODY": str(body_file), "BENCH_KEY": key}
    popen = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, start_new_session=True, text=True
    )
    try:
        out, _ = popen.communicate(timeout=seconds + 60)
    finally:
        if popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(popen.pid, signal.SIGKILL)
            popen.wait()
    if popen.returncode != 0:
        raise RuntimeError(f"wrk exited with {popen.returncode}:\n{out}")
    return _parse(out)
