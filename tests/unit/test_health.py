"""The circuit breaker, on a fake clock."""

from __future__ import annotations

from farebox.config import CircuitConfig
from farebox.routing.health import Health

A, B = "p/a", "p/b"


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def make(**policy: float) -> tuple[Health, Clock]:
    clock = Clock()
    return Health(CircuitConfig(**policy), clock=clock), clock  # type: ignore[arg-type]


def test_consecutive_failures_open_then_probe_closes() -> None:
    health, clock = make(consecutive_failures=3, cooldown=10)
    for _ in range(2):
        health.record_failure(A)
    assert health.allow(A) and health.state(A) == "closed"
    health.record_failure(A)
    assert health.state(A) == "open" and not health.allow(A)
    assert health.retry_in(A) == 10
    clock.now += 9.9
    assert not health.allow(A)
    clock.now += 0.1
    assert health.state(A) == "half_open"
    assert health.allow(A)  # the one probe
    assert not health.allow(A)  # nobody else while it runs
    health.record_success(A, 0.2)
    assert health.state(A) == "closed" and health.allow(A)


def test_error_rate_over_the_window_opens() -> None:
    health, _ = make(consecutive_failures=100, error_rate=0.5, window=10)
    for i in range(10):
        (health.record_failure if i % 2 else health.record_success)(A)
    assert health.state(A) == "closed"  # 50% is not over 50%
    health.record_failure(A)  # window now 6 failures of 10
    assert health.state(A) == "open"


def test_a_closed_circuit_forgets_the_failures_that_opened_it() -> None:
    health, clock = make(consecutive_failures=100, error_rate=0.5, window=4)
    for _ in range(4):
        health.record_failure(A)
    assert health.state(A) == "open"
    clock.now += 30
    assert health.allow(A)
    health.record_success(A)
    health.record_failure(A)  # one failure after recovery must not reopen it
    assert health.state(A) == "closed"


def test_failed_probe_reopens_for_a_full_cooldown() -> None:
    health, clock = make(consecutive_failures=1, cooldown=5)
    health.record_failure(A)
    clock.now += 5
    assert health.allow(A)
    health.record_failure(A)
    assert health.state(A) == "open" and health.retry_in(A) == 5


def test_late_failures_do_not_extend_an_open_circuit() -> None:
    health, clock = make(consecutive_failures=1, cooldown=5)
    health.record_failure(A)
    clock.now += 4
    health.record_failure(A)  # a call sent before it opened, failing late
    assert health.retry_in(A) == 1


def test_released_probe_lets_the_next_request_probe() -> None:
    health, clock = make(consecutive_failures=1, cooldown=5)
    health.record_failure(A)
    clock.now += 5
    assert health.allow(A)
    health.release(A)  # the client went away mid-probe
    assert health.allow(A)


def test_status_live_degraded_down() -> None:
    health, clock = make(consecutive_failures=1, cooldown=5)
    assert health.status([A, B]) == "live"
    health.record_failure(A)
    assert health.status([A, B]) == "degraded"
    health.record_failure(B)
    assert health.status([A, B]) == "down"
    clock.now += 5
    assert health.status([A, B]) == "degraded"  # half-open: a probe may go through
    assert health.status([]) == "down"


def test_snapshot_lists_configured_deployments_never_called() -> None:
    health, _ = make()
    health.record_failure(A)
    snap = health.snapshot([A, B])
    assert snap[A]["failures"] == 1 and snap[A]["recent_error_rate"] == 1.0
    assert snap[B] == {"state": "closed", "consecutive_failures": 0, "recent_error_rate": 0.0, "retry_in_s": 0.0,
                       "successes": 0, "failures": 0, "latency_ms": None}
