"""Start pinned processes, wait for them, measure them from /proc, stop them by PID."""

from __future__ import annotations

import contextlib
import os
import resource
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

_TICK = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> list[int]:
    kids: list[int] = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            kids += [int(k) for k in (task / "children").read_text().split()]
    return kids


def descendants(pid: int) -> list[int]:
    """Every live process under pid (children, their children, ...), from /proc/PID/task/*/children."""
    found: list[int] = []
    todo = _children(pid)
    while todo:
        kid = todo.pop()
        found.append(kid)
        with contextlib.suppress(OSError):  # it may have exited since it was listed
            todo += _children(kid)
    return found


def _stat_cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return 0.0


@dataclass
class Proc:
    name: str
    popen: subprocess.Popen[bytes]
    log: Path

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def cpu_seconds(self) -> float:
        """user + system CPU seconds so far (fields 14 and 15 of /proc/PID/stat) of this process
        and its descendants (the workers of `farebox serve --workers N`)."""
        total = _stat_cpu_s(self.pid)
        for kid in descendants(self.pid):
            with contextlib.suppress(OSError):
                total += _stat_cpu_s(kid)
        return total

    def run_wait_s(self) -> float:
        """Seconds spent runnable but waiting for a CPU (2nd field of /proc/PID/schedstat), summed
        over the process and its descendants: time a busy machine took from them."""
        total = 0
        for pid in [self.pid, *descendants(self.pid)]:
            with contextlib.suppress(OSError):
                total += int(Path(f"/proc/{pid}/schedstat").read_text().split()[1])
        return total / 1e9

    def peak_rss_mb(self) -> float:
        """VmHWM: the resident set's high-water mark since the process started; with child
        processes (workers), the largest child's, since the parent only supervises them."""
        kids = descendants(self.pid)
        if not kids:
            return _peak_rss_mb(self.pid)
        peaks = [0.0]
        for kid in kids:
            with contextlib.suppress(OSError):
                peaks.append(_peak_rss_mb(kid))
        return max(peaks)

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self, timeout: float = 5.0) -> None:
        """SIGTERM this PID, then SIGKILL it if it has not gone within the timeout."""
        if self.popen.poll() is not None:
            return
        kids = descendants(self.pid)  # SIGTERM is the parent's to pass on; SIGKILL is not
        with contextlib.suppress(ProcessLookupError):
            os.kill(self.pid, signal.SIGTERM)
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            for pid in [self.pid, *kids]:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
            self.popen.wait()


def start(
    name: str,
    argv: Sequence[str],
    cpu: int | str,
    log_dir: Path,
    env: Mapping[str, str] | None = None,
    cwd: Path | None = None,
) -> Proc:
    """Run argv pinned to a core, or a taskset list such as "0,1" (taskset execs it, so the PID
    is the program's own; its children inherit the pinning)."""
    log = log_dir / f"{name}.log"
    out = log.open("ab")
    try:
        popen = subprocess.Popen(
            ["taskset", "-c", str(cpu), *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            cwd=cwd,
            start_new_session=True,  # Ctrl-C reaches only us; we stop the children in order
        )
    finally:
        out.close()
    return Proc(name, popen, log)


def wait_http(proc: Proc, url: str, timeout: float = 20.0) -> None:
    """Poll url until it answers 200; fail early if the process died."""
    deadline = time.monotonic() + timeout
    last = ""
    while time.monotonic() < deadline:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
        try:
            with urllib.request.urlopen(url, timeout=1.0) as resp:
                if resp.status == 200:
                    return
                last = f"HTTP {resp.status}"
        except (urllib.error.URLError, OSError) as exc:
            last = str(exc)
        time.sleep(0.05)
    raise RuntimeError(f"{proc.name} not ready at {url} after {timeout:.0f} s ({last}):\n{proc.tail()}")


def listeners(port: int) -> int:
    """Listening TCP sockets on port (/proc/net/tcp, state 0A): one per worker with SO_REUSEPORT."""
    rows = Path("/proc/net/tcp").read_text().splitlines()[1:]
    return sum(1 for row in rows if row.split()[1].endswith(f":{port:04X}") and row.split()[3] == "0A")


def wait_listeners(proc: Proc, port: int, count: int, timeout: float = 30.0) -> None:
    """Wait until `count` sockets listen on port, so the load reaches every worker from the start."""
    deadline = time.monotonic() + timeout
    while listeners(port) < count:
        if not proc.alive():
            raise RuntimeError(f"{proc.name} exited with {proc.popen.returncode}:\n{proc.tail()}")
        if time.monotonic() > deadline:
            raise RuntimeError(f"{proc.name}: {listeners(port)} of {count} workers listening after {timeout:.0f} s")
        time.sleep(0.1)


_PROBE = (
    "import time\nt = time.perf_counter()\nfor i in range(2_000_000): pass\nprint(time.perf_counter() - t)"
)


def cpu_probe_ms(python: str, cpu: int) -> float:
    """Milliseconds a fixed pure-Python loop takes on `cpu`: this machine's speed drifts (shared
    hosts), so a run records it to tell a slow machine from a slow gateway."""
    runs = []
    for _ in range(3):
        out = subprocess.run(
            ["taskset", "-c", str(cpu), python, "-c", _PROBE],
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        runs.append(float(out.stdout) * 1000)
    return sorted(runs)[1]


def system_busy_s() -> float:
    """CPU seconds used on the whole machine so far (user, nice, system, steal; all cores)."""
    v = [int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    return (v[0] + v[1] + v[2] + v[7]) / _TICK


def own_cpu_s(procs: list[Proc]) -> float:
    """CPU seconds of this harness, its waited-for children (wrk) and the live processes given."""
    me, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    total = me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime
    for proc in procs:
        with contextlib.suppress(OSError):
            total += proc.cpu_seconds()
    return total


class Group:
    """Processes stopped together, newest first, whatever happens (also on Ctrl-C)."""

    def __init__(self) -> None:
        self.procs: list[Proc] = []

    def add(self, proc: Proc) -> Proc:
        self.procs.append(proc)
        return proc

    def stop(self, proc: Proc) -> None:
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def stop_all(self) -> None:
        while self.procs:
            self.procs.pop().stop()


@contextlib.contextmanager
def group() -> Iterator[Group]:
    g = Group()
    try:
        yield g
    finally:
        g.stop_all()
