"""farebox load bench: nginx direct vs a bare aiohttp pass-through vs farebox, pinned to cores.

Upstreams (nginx with canned OpenAI answers, or the slow aiohttp upstream) and wrk run on
core 1, the gateway under test on core 0. Every run prints a row; the table, the issue's
targets and a JSON file in bench/results/ come at the end. The scale group adds farebox over
Redis (redis-server on core 1): one process on core 0, then `serve --workers 2` on both cores.
See bench/README.md.

    .venv/bin/python bench/run.py [--duration 10] [--quick] [--only json,stream,slow,scale]
                                  [--farebox-cmd .venv/bin/farebox]
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import canned
import farebox_ctl
import load
import nginx_conf
import procs
import redis_ctl
import report

HERE = Path(__file__).resolve().parent
GATEWAY_CPU, LOAD_CPU = 0, 1  # upstream and wrk share core 1, as in the reference measurement
CHAT = "/v1/chat/completions"
GROUPS = ("json", "stream", "slow", "scale")
# workers -> taskset cores of `farebox serve`; the second worker shares core 1 with wrk and nginx
SCALE_WORKERS: dict[int, int | str] = {1: GATEWAY_CPU, 2: f"{GATEWAY_CPU},{LOAD_CPU}"}


@dataclass
class Bench:
    args: argparse.Namespace
    tools: dict[str, str]
    tmp: Path
    key: str = "sk-bench-no-auth"  # sent to every target, so the request bytes are the same
    fb: farebox_ctl.Farebox | None = None
    group: procs.Group = field(default_factory=procs.Group)
    rows: list[report.Row] = field(default_factory=list)

    def body(self, model: str, stream: bool) -> Path:
        path = self.tmp / f"body-{model}-{'stream' if stream else 'json'}.json"
        path.write_bytes(canned.request_body(model, stream))
        return path

    def wrk(self, url: str, body: Path, conns: int, seconds: int) -> load.WrkResult:
        return load.run_wrk(self.tools["wrk"], url, body, conns, seconds, LOAD_CPU, self.key)

    def series(
        self,
        group: str,
        target: str,
        origin: str,
        body: Path,
        conns_list: list[int],
        proc: procs.Proc | None = None,
    ) -> None:
        """Warm the target up, then one measured run per connection count."""
        url = origin + CHAT
        self.wrk(url, body, max(conns_list), self.args.warmup)
        for conns in conns_list:
            runs = []
            for _ in range(self.args.repeat):
                runs.append(self.measure(group, target, url, body, conns, proc))
                print(report.progress(runs[-1]), flush=True)
            self.rows.append(report.least_disturbed(runs))

    def measure(
        self, group: str, target: str, url: str, body: Path, conns: int, proc: procs.Proc | None
    ) -> report.Row:
        billed = target.startswith("farebox") and self.fb is not None  # also the scale group's
        charges0 = self.fb.settled_charges() if billed and self.fb else 0
        cpu0 = proc.cpu_seconds() if proc else 0.0
        wait0 = proc.run_wait_s() if proc else 0.0
        busy0, own0 = procs.system_busy_s(), procs.own_cpu_s(self.group.procs)
        res = self.wrk(url, body, conns, self.args.duration)
        other = procs.system_busy_s() - busy0 - (procs.own_cpu_s(self.group.procs) - own0)
        row = report.Row(
            group,
            target,
            conns,
            res.rps,
            res.p50_ms,
            res.p90_ms,
            res.p99_ms,
            res.requests,
            res.ok,
            res.errors,
            other_cpu_s=max(other, 0.0),
        )
        if proc:
            if not proc.alive():
                raise RuntimeError(f"{proc.name} died during the run:\n{proc.tail()}")
            row.cpu_s = proc.cpu_seconds() - cpu0
            row.wait_s = proc.run_wait_s() - wait0
            row.cpu_us_per_req = row.cpu_s / res.requests * 1e6 if res.requests else None
            row.peak_rss_mb = proc.peak_rss_mb()
        if billed and self.fb:
            row.ledger_charges = self.fb.settled_charges() - charges0
            row.ledger = report.ledger_verdict(row.ledger_charges, res.ok, conns)
        return row


def start_farebox(
    bench: Bench,
    g: procs.Group,
    upstreams: dict[str, str],
    redis: str | None = None,
    workers: int = 1,
    fb: farebox_ctl.Farebox | None = None,
) -> tuple[procs.Proc | None, str]:
    """Set farebox up and start it; on any failure say why and let its rows be skipped.
    redis: the scale-out configuration, with its own config file and account (same database);
    fb: one already set up, to serve again (with more workers)."""
    try:
        port = procs.free_port()
        if fb is None:
            config = "farebox-redis.yaml" if redis else "farebox-bench.yaml"
            fb = farebox_ctl.Farebox.from_command(bench.args.farebox_cmd, bench.tmp, config)
            fb.check()
            fb.write_config(port, upstreams, log_requests=not bench.args.no_request_log, redis=redis)
            bench.key = fb.setup_account(farebox_ctl.ACCOUNT + ("-redis" if redis else ""))
        name = f"farebox-redis-w{workers}" if redis else "farebox"
        proc = g.add(fb.serve(port, SCALE_WORKERS[workers], bench.tmp, workers, name))
        procs.wait_http(proc, f"http://127.0.0.1:{port}/health", timeout=30)
        procs.wait_listeners(proc, port, workers)
    except farebox_ctl.Unavailable as exc:
        return None, f"skipped: farebox is not runnable with --farebox-cmd {bench.args.farebox_cmd!r}: {exc}"
    except (RuntimeError, OSError, subprocess.SubprocessError, ValueError, KeyError) as exc:
        return None, f"skipped: farebox setup failed: {exc}"
    bench.fb = fb
    return proc, f"http://127.0.0.1:{port}"


def run_group(
    bench: Bench, g: procs.Group, group: str, upstream: str, fb_origin: str | None, fb_proc: procs.Proc | None
) -> None:
    slow = group.startswith("slow")
    stream = group.endswith("stream")
    conns_list = [256] if slow else ([1, 16] if bench.args.quick else [1, 16, 64])
    body = bench.body("bench-slow" if slow else f"bench-{group}", stream)
    print(f"\n== {group}: direct ({'slow upstream' if slow else 'nginx'}), pass-through, farebox", flush=True)
    bench.series(group, "direct", upstream, body, conns_list)
    port = procs.free_port()
    argv = [sys.executable, str(HERE / "passthrough.py"), "--port", str(port), "--upstream", upstream]
    passthrough = g.add(procs.start(f"passthrough-{group}", argv, GATEWAY_CPU, bench.tmp))
    try:
        procs.wait_http(passthrough, f"http://127.0.0.1:{port}/health")
        bench.series(group, "passthrough", f"http://127.0.0.1:{port}", body, conns_list, passthrough)
    finally:
        g.stop(passthrough)
    if fb_origin and fb_proc:
        bench.series(group, "farebox", fb_origin, body, conns_list, fb_proc)


def run_scale(bench: Bench, g: procs.Group, upstreams: dict[str, str]) -> str:
    """farebox over Redis against the nginx upstreams: one process on core 0 (the per-core figure of
    the scale-out configuration), then `serve --workers 2` on cores 0 and 1. Returns a status."""
    conns_list = [16] if bench.args.quick else [16, 64]
    port = procs.free_port()
    redis = g.add(redis_ctl.start(bench.tools["redis-server"], port, LOAD_CPU, bench.tmp))
    try:
        redis_ctl.wait_ready(redis, port)
    except RuntimeError as exc:
        print(f"scale rows skipped: {exc}", flush=True)
        return f"skipped: {exc}"
    fb: farebox_ctl.Farebox | None = None
    for workers, cpus in SCALE_WORKERS.items():
        target = report.SCALE_W1 if workers == 1 else report.SCALE_W2
        print(f"\n== scale: {target} (taskset -c {cpus}), redis on core {LOAD_CPU}", flush=True)
        proc, origin = start_farebox(bench, g, upstreams, redis_ctl.url(port), workers, fb)
        if not proc:
            print(f"{target} rows {origin}", flush=True)
            return origin
        fb = bench.fb
        try:
            for group in ("json", "stream"):
                body = bench.body(f"bench-{group}", group == "stream")
                bench.series(group, target, origin, body, conns_list, proc)
        finally:
            g.stop(proc)
    g.stop(redis)
    return "ran"


def _version(argv: list[str]) -> str:
    try:
        out = subprocess.run(argv, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        return "?"
    text = (out.stdout + out.stderr).strip().splitlines()
    return text[0] if text else "?"


def meta(bench: Bench, farebox_status: str) -> dict[str, Any]:
    cpu_model = next(
        (
            ln.split(":", 1)[1].strip()
            for ln in Path("/proc/cpuinfo").read_text().splitlines()
            if ln.startswith("model name")
        ),
        "?",
    )
    return {
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "duration_s": bench.args.duration,
        "repeat": bench.args.repeat,
        "quick": bench.args.quick,
        "cpus": os.cpu_count(),
        "cpu_model": cpu_model,
        "kernel": platform.release(),
        "python": platform.python_version(),
        "aiohttp": aiohttp.__version__,
        "nginx": _version([bench.tools["nginx"], "-v"]),
        "wrk": _version([bench.tools["wrk"], "-v"]),
        "commit": _version(["git", "-C", str(HERE), "describe", "--always", "--dirty"]),
        "pinning": {"gateway": GATEWAY_CPU, "upstream": LOAD_CPU, "wrk": LOAD_CPU},
        "farebox_cmd": bench.args.farebox_cmd,
        "farebox": farebox_status,
        "farebox_request_log": not bench.args.no_request_log,
    }


def scale_meta(bench: Bench, status: str) -> dict[str, Any]:
    return {
        "scale": {
            "farebox": status,
            "redis": _version([bench.tools["redis-server"], "--version"]),
            "pinning": {"w1": SCALE_WORKERS[1], "w2": SCALE_WORKERS[2], "redis": LOAD_CPU, "wrk": LOAD_CPU},
        }
    }


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=int, default=10, help="whole seconds per measured run (default 10)")
    p.add_argument(
        "--quick",
        action="store_true",
        help="smoke test: 2 s runs, 1 and 16 conns (scale: 16), slow stream only",
    )
    p.add_argument(
        "--only", default=",".join(GROUPS), help="comma-separated: json, stream, slow, scale (default all)"
    )
    p.add_argument(
        "--farebox-cmd",
        default=".venv/bin/farebox",
        help="how to run the farebox CLI, from the repo root (default .venv/bin/farebox); "
        "e.g. 'PYTHONPATH=src /work/main/.venv/bin/python -m farebox'",
    )
    p.add_argument(
        "--repeat",
        type=int,
        default=1,
        help="runs per row; the table keeps the one least disturbed by other processes (default 1)",
    )
    p.add_argument(
        "--no-request-log",
        action="store_true",
        help="farebox with log_requests: false (default: its default, on)",
    )
    args = p.parse_args(argv)
    args.only = [g.strip() for g in args.only.split(",") if g.strip()]
    if unknown := [g for g in args.only if g not in GROUPS]:
        p.error(f"--only: unknown {', '.join(unknown)} (choose from {', '.join(GROUPS)})")
    if args.quick:
        args.duration = min(args.duration, 2)
    args.warmup = 1  # wrk takes whole seconds
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks on kill
    signal.signal(signal.SIGINT, signal.default_int_handler)  # Ctrl-C even if started with SIGINT ignored
    tools = load.ensure_tools([*load.NEEDED, *(["redis-server"] if "scale" in args.only else [])])
    tmp = Path(tempfile.mkdtemp(prefix="farebox-bench-"))
    bench = Bench(args, tools, tmp)
    ok = False
    busy0 = procs.system_busy_s()
    time.sleep(1.0)
    others = procs.system_busy_s() - busy0
    probes = {"start": procs.cpu_probe_ms(sys.executable, GATEWAY_CPU)}
    print(f"before the bench, other processes used {others:.2f} of {os.cpu_count()} cores;", end=" ")
    print(f"CPU probe on core {GATEWAY_CPU}: {probes['start']:.0f} ms (lower is faster)", flush=True)
    if others > 0.2:
        print("  warning: the machine is busy with other work; figures will be noisy", flush=True)
    try:
        with procs.group() as g:
            bench.group = g
            json_port, stream_port, slow_port = procs.free_port(), procs.free_port(), procs.free_port()
            conf = nginx_conf.write_config(tmp, json_port, stream_port)
            nginx = g.add(
                procs.start(
                    "nginx",
                    [tools["nginx"], "-p", str(tmp), "-e", str(tmp / "nginx-error.log"), "-c", str(conf)],
                    LOAD_CPU,
                    tmp,
                )
            )
            procs.wait_http(nginx, f"http://127.0.0.1:{json_port}/v1/models")
            slow = f"http://127.0.0.1:{slow_port}"
            if "slow" in args.only:
                argv_slow = [sys.executable, str(HERE / "slow_upstream.py"), "--port", str(slow_port)]
                procs.wait_http(
                    g.add(procs.start("slow-upstream", argv_slow, LOAD_CPU, tmp)), slow + "/health"
                )
            upstreams = {
                "fast-json": f"http://127.0.0.1:{json_port}/v1",
                "fast-stream": f"http://127.0.0.1:{stream_port}/v1",
                "slow": slow + "/v1",
            }
            if any(g_ in args.only for g_ in ("json", "stream", "slow")):
                fb_proc, fb_origin = start_farebox(bench, g, upstreams)
                if not fb_proc:
                    print(f"farebox rows {fb_origin}", flush=True)
            else:
                fb_proc, fb_origin = None, "not run (only the scale group)"
            status = "ran" if fb_proc else fb_origin
            origins = {"json": f"http://127.0.0.1:{json_port}", "stream": f"http://127.0.0.1:{stream_port}"}
            for group in [g_ for g_ in ("json", "stream") if g_ in args.only]:
                run_group(bench, g, group, origins[group], fb_origin if fb_proc else None, fb_proc)
            if "slow" in args.only:
                for group in ["slow-stream"] if args.quick else ["slow-stream", "slow-json"]:
                    run_group(bench, g, group, slow, fb_origin if fb_proc else None, fb_proc)
            if "scale" in args.only:
                if fb_proc:
                    g.stop(fb_proc)  # core 0 for the Redis variants alone
                scale_status = run_scale(bench, g, upstreams)
        ok = True
    finally:
        if bench.rows:
            probes["end"] = procs.cpu_probe_ms(sys.executable, GATEWAY_CPU)
            start, end = probes["start"], probes["end"]
            print(f"\nCPU probe on core {GATEWAY_CPU}: {start:.0f} ms at start, {end:.0f} ms at end")
            report.fill_added_p50(bench.rows)
            print("\n" + report.table(bench.rows))
            verdicts = report.targets(bench.rows)
            if verdicts:
                print("\nTargets (farebox):\n" + report.verdicts_text(verdicts))
            if scale := report.scale_lines(bench.rows):
                print("\nScale-out (informational, not judged against the targets):\n" + "\n".join(scale))
            info = meta(bench, status if ok else "interrupted") | {
                "cpu_probe_ms": probes,
                "other_cores_before": others,
            }
            if "scale" in args.only:
                info |= scale_meta(bench, scale_status if ok else "interrupted")
            out = report.Results(info, bench.rows).write(HERE / "results")
            print(f"\nresults: {out}")
        if ok:
            shutil.rmtree(tmp, ignore_errors=True)
        else:
            print(f"logs kept in {tmp}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit("interrupted: every process the bench started has been stopped")
