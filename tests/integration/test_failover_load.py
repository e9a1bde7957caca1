"""A few seconds of bench/failover_load.py: one of two deployments is killed mid-run and no
non-streaming client sees an error."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

BENCH = Path(__file__).resolve().parents[2] / "bench" / "failover_load.py"


def load_bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("failover_load", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_killing_one_deployment_under_load_costs_clients_nothing() -> None:
    bench = load_bench()
    result = asyncio.run(bench.run(seconds=3.0, kill_at=1.0, concurrency=8))
    assert result.errors == 0, result.error_samples[:5]
    assert len(result.before) > 20 and len(result.after) > 50, result.report()
    assert result.circuit_open_after_s is not None and result.circuit_open_after_s < 1.0, result.report()
    assert result.upstream_a_failures >= 1
    assert result.health["models"]["coder"]["status"] in ("degraded", "live")
