"""Rows of the bench, the targets they are held to, the printed table and the JSON file."""

from __future__ import annotations

import json
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

# The targets for farebox (one process, one core, auth + rate limits + billing on).
MIN_JSON_RPS = 3000.0
MIN_JSON_SHARE = 0.5  # of the pass-through measured in the same run
MIN_STREAM_RPS = 2500.0
MAX_ADDED_P50_MS = 0.6  # at 1 connection, over nginx direct
MAX_RSS_MB = 120.0
MAX_SLOW_ADDED_P50_MS = 5.0  # at 256 connections, over the slow upstream's own
# The scale group's targets: informational, never judged against the one-process targets above.
SCALE_W1, SCALE_W2 = "farebox+redis w1", "farebox+redis w2"


@dataclass
class Row:
    group: str  # json, stream, slow-json, slow-stream
    target: str  # direct (nginx or the slow upstream), passthrough, farebox, SCALE_W1, SCALE_W2
    conns: int
    rps: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    requests: int
    ok: int  # 200 responses
    errors: int  # non-200 responses + socket errors
    added_p50_ms: float | None = None
    cpu_s: float | None = None
    cpu_us_per_req: float | None = None
    peak_rss_mb: float | None = None
    wait_s: float | None = None  # the gateway's time runnable but without a CPU
    other_cpu_s: float | None = None  # CPU used by processes not ours during the run: noise
    ledger_charges: int | None = None
    ledger: str | None = None  # OK, OK (+n in flight), MISMATCH

    def key(self) -> tuple[str, str, int]:
        return (self.group, self.target, self.conns)


def ledger_verdict(charges: int, ok: int, conns: int) -> str:
    """Charges must equal the 200s wrk saw. wrk drops the requests in flight when the time is up,
    and the gateway may still bill them: up to `conns` extra charges are those, not a bug."""
    if charges == ok:
        return "OK"
    if ok < charges <= ok + conns:
        return f"OK (+{charges - ok} in flight)"
    return "MISMATCH"


def least_disturbed(runs: list[Row]) -> Row:
    """The run that other processes on this shared machine disturbed least; an error or a ledger
    mismatch in any run stays visible on it."""
    best = min(runs, key=lambda r: (r.other_cpu_s or 0.0) + (r.wait_s or 0.0))
    best.errors = sum(r.errors for r in runs)
    if any(r.ledger == "MISMATCH" for r in runs):
        best.ledger = "MISMATCH"
    return best


def fill_added_p50(rows: list[Row]) -> None:
    direct = {(r.group, r.conns): r.p50_ms for r in rows if r.target == "direct"}
    for r in rows:
        base = direct.get((r.group, r.conns))
        if base is not None and r.target != "direct":
            r.added_p50_ms = r.p50_ms - base


@dataclass
class Verdict:
    name: str
    measured: str
    passed: bool


def _find(rows: list[Row], group: str, target: str, conns: int) -> Row | None:
    return next((r for r in rows if r.key() == (group, target, conns)), None)


def targets(rows: list[Row]) -> list[Verdict]:
    """The issue's targets, for the farebox rows that were measured."""
    out: list[Verdict] = []
    fb = [r for r in rows if r.target == "farebox"]
    if not fb:
        return out
    j16, p16 = _find(rows, "json", "farebox", 16), _find(rows, "json", "passthrough", 16)
    if j16 and p16:
        share = j16.rps / p16.rps if p16.rps else 0.0
        out.append(
            Verdict(
                f"JSON @16 >= {MIN_JSON_RPS:,.0f} req/s and >= {MIN_JSON_SHARE:.0%} of pass-through",
                f"{j16.rps:,.0f} req/s = {share:.0%} of {p16.rps:,.0f}",
                j16.rps >= MIN_JSON_RPS and share >= MIN_JSON_SHARE,
            )
        )
    s16 = _find(rows, "stream", "farebox", 16)
    if s16:
        out.append(
            Verdict(
                f"stream @16 >= {MIN_STREAM_RPS:,.0f} streams/s", f"{s16.rps:,.0f}", s16.rps >= MIN_STREAM_RPS
            )
        )
    for group in ("json", "stream"):
        r1 = _find(rows, group, "farebox", 1)
        if r1 and r1.added_p50_ms is not None:
            out.append(
                Verdict(
                    f"{group} @1 added p50 <= {MAX_ADDED_P50_MS} ms",
                    f"{r1.added_p50_ms:.2f} ms",
                    r1.added_p50_ms <= MAX_ADDED_P50_MS,
                )
            )
    rss = max((r.peak_rss_mb or 0.0) for r in fb)
    out.append(Verdict(f"peak RSS <= {MAX_RSS_MB:.0f} MB", f"{rss:.0f} MB", rss <= MAX_RSS_MB))
    slow = _find(rows, "slow-stream", "farebox", 256)
    if slow and slow.added_p50_ms is not None:
        out.append(
            Verdict(
                f"slow stream @256 p50 within {MAX_SLOW_ADDED_P50_MS:.0f} ms of upstream",
                f"+{slow.added_p50_ms:.1f} ms",
                slow.added_p50_ms <= MAX_SLOW_ADDED_P50_MS,
            )
        )
    bad = [r for r in fb if r.errors or r.ledger == "MISMATCH"]
    out.append(
        Verdict(
            "every farebox response 200, ledger charges = 200s",
            "all" if not bad else ", ".join(f"{r.group}@{r.conns}" for r in bad),
            not bad,
        )
    )
    return out


def scale_lines(rows: list[Row]) -> list[str]:
    """One line per group and connection count of the scale group: farebox over Redis on one core,
    against farebox without Redis when this run measured it, and with two workers."""
    out = []
    for w1 in (r for r in rows if r.target == SCALE_W1):
        plain = _find(rows, w1.group, "farebox", w1.conns)
        share = (
            f"{w1.rps / plain.rps:.0%} of no-Redis farebox"
            if plain and plain.rps
            else "no-Redis farebox not measured in this run"
        )
        line = f"scale: redis w1 {w1.group}@{w1.conns} = {w1.rps:,.0f} req/s ({share})"
        w2 = _find(rows, w1.group, SCALE_W2, w1.conns)
        if w2:
            line += f", w2 = {w2.rps:,.0f} req/s"
        bad = [r.target for r in (w1, w2) if r and (r.errors or r.ledger == "MISMATCH")]
        if bad:
            line += f"  [errors or ledger MISMATCH: {', '.join(bad)}]"
        out.append(line)
    return out


def _fmt(value: float | None, spec: str) -> str:
    return "-" if value is None else format(value, spec)


HEAD = (
    "group|target|conns|req/s|p50 ms|p90 ms|p99 ms|+p50 ms|CPU s|CPU us/req|RSS MB|wait s|other CPU s|errors"
)
HEADINGS = [*HEAD.split("|"), "ledger vs 200s"]


def cells(r: Row) -> list[str]:
    return [
        r.group,
        r.target,
        str(r.conns),
        f"{r.rps:,.0f}",
        f"{r.p50_ms:.2f}",
        f"{r.p90_ms:.2f}",
        f"{r.p99_ms:.2f}",
        _fmt(r.added_p50_ms, "+.2f"),
        _fmt(r.cpu_s, ".2f"),
        _fmt(r.cpu_us_per_req, ".0f"),
        _fmt(r.peak_rss_mb, ".0f"),
        _fmt(r.wait_s, ".2f"),
        _fmt(r.other_cpu_s, ".1f"),
        str(r.errors),
        "-" if r.ledger is None else f"{r.ledger_charges}/{r.ok} {r.ledger}",
    ]


def table(rows: list[Row]) -> str:
    lines = [HEADINGS, *(cells(r) for r in rows)]
    widths = [max(len(line[i]) for line in lines) for i in range(len(HEADINGS))]
    text = [
        "  ".join(
            c.rjust(w) if i > 1 else c.ljust(w) for i, (c, w) in enumerate(zip(line, widths, strict=True))
        )
        for line in lines
    ]
    text.insert(1, "  ".join("-" * w for w in widths))
    return "\n".join(text)


def progress(r: Row) -> str:
    extra = (
        "" if r.cpu_s is None else f"  CPU {r.cpu_s:.2f} s  wait {r.wait_s:.2f} s  RSS {r.peak_rss_mb:.0f} MB"
    )
    extra += f"  other CPU {r.other_cpu_s:.1f} s"
    ledger = "" if r.ledger is None else f"  ledger {r.ledger_charges}/{r.ok} {r.ledger}"
    return (
        f"  {r.target:<11} {r.conns:>3} conns  {r.rps:>9,.0f} req/s  p50 {r.p50_ms:6.2f}  "
        f"p99 {r.p99_ms:6.2f} ms  errors {r.errors}{extra}{ledger}"
    )


def verdicts_text(verdicts: list[Verdict]) -> str:
    return "\n".join(f"  [{'PASS' if v.passed else 'FAIL'}] {v.name}: {v.measured}" for v in verdicts)


@dataclass
class Results:
    meta: dict[str, Any]
    rows: list[Row] = field(default_factory=list)

    def write(self, directory: Path) -> Path:
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / (time.strftime("%Y%m%d-%H%M%S") + ".json")
        data = {
            "meta": self.meta,
            "rows": [asdict(r) for r in self.rows],
            "targets": [asdict(v) for v in targets(self.rows)],
        }
        if scale := scale_lines(self.rows):
            data["scale"] = scale
        path.write_text(json.dumps(data, indent=2) + "\n")
        return path


def markdown(data: dict[str, Any]) -> str:
    """A results file as a Markdown table and the target verdicts (for bench/README.md)."""
    lines = [HEADINGS, ["---"] * len(HEADINGS), *(cells(Row(**r)) for r in data["rows"])]
    out = ["| " + " | ".join(line) + " |" for line in lines]
    verdicts = [Verdict(**v) for v in data.get("targets", [])]
    if verdicts:
        out += ["", verdicts_text(verdicts)]
    if scale := data.get("scale"):
        out += ["", *scale]
    return "\n".join(out)


if __name__ == "__main__":  # python bench/report.py bench/results/<file>.json
    print(markdown(json.loads(Path(sys.argv[1]).read_text())))
