"""The supervisor's policy, with real (forked) worker processes that do nothing but follow a
script: a crashed worker is restarted with a backoff, a crash loop ends the supervisor (exit 1),
a worker that cannot start is one line and exit 1, SIGTERM reaches every worker."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from collections.abc import Callable
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess

import pytest

from farebox.cli.supervisor import LISTENING, Policy, Supervisor

FAST = Policy(grace=1, kill_margin=1, backoff=0.05, max_backoff=0.2, max_restarts=3, window=60)
ctx = multiprocessing.get_context("fork")


def crash_after_listening(pipe: Connection) -> None:
    pipe.send(LISTENING)
    time.sleep(0.1)
    os._exit(3)


def cannot_listen(pipe: Connection) -> None:
    pipe.send("cannot listen on 127.0.0.1:1: Address already in use")
    os._exit(1)


def serve_until_sigterm(pipe: Connection) -> None:
    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    pipe.send(LISTENING)
    while True:
        time.sleep(1)


def ignore_sigterm(pipe: Connection) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    pipe.send(LISTENING)
    while True:
        time.sleep(1)


def factory(target: Callable[[Connection], object]) -> Supervisor:
    return Supervisor(lambda pipe: ctx.Process(target=target, args=(pipe,)), 2, FAST)


def sigterm_soon(delay: float) -> None:
    threading.Timer(delay, os.kill, (os.getpid(), signal.SIGTERM)).start()


def test_the_signal_handlers_are_restored() -> None:
    before = signal.getsignal(signal.SIGTERM)
    sigterm_soon(0.5)
    factory(serve_until_sigterm).run(lambda: None)
    assert signal.getsignal(signal.SIGTERM) is before


def test_a_crash_loop_ends_the_supervisor(caplog: pytest.LogCaptureFixture) -> None:
    listening: list[bool] = []
    supervisor = factory(crash_after_listening)
    assert supervisor.run(lambda: listening.append(True)) == 1
    assert listening == [True]
    assert len(supervisor.restarts) == FAST.max_restarts
    assert "a crash loop" in caplog.text
    assert "restarting it in 0.1 s" in caplog.text and "restarting it in 0.2 s" in caplog.text  # doubling


def test_a_worker_that_cannot_listen_is_one_line_and_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    listening: list[bool] = []
    assert factory(cannot_listen).run(lambda: listening.append(True)) == 1
    assert listening == []
    assert capsys.readouterr().err.splitlines() == ["cannot listen on 127.0.0.1:1: Address already in use"]


def test_sigterm_is_forwarded_and_exits_0() -> None:
    supervisor = factory(serve_until_sigterm)
    sigterm_soon(0.5)
    assert supervisor.run(lambda: None) == 0
    assert [s.process.exitcode for s in supervisor.slots] == [0, 0]


def test_a_worker_still_running_after_grace_and_margin_is_killed() -> None:
    supervisor = factory(ignore_sigterm)
    sigterm_soon(0.5)
    started = time.monotonic()
    assert supervisor.run(lambda: None) == 1
    assert FAST.grace + FAST.kill_margin <= time.monotonic() - started < FAST.grace + FAST.kill_margin + 3
    assert [s.process.exitcode for s in supervisor.slots] == [-signal.SIGKILL] * 2


def test_a_dead_worker_is_replaced() -> None:
    supervisor = factory(serve_until_sigterm)
    first: list[BaseProcess] = []

    def kill_one() -> None:
        first.extend(s.process for s in supervisor.slots)
        os.kill(first[0].pid or 0, signal.SIGKILL)

    threading.Timer(0.5, kill_one).start()
    sigterm_soon(2.0)
    assert supervisor.run(lambda: None) == 0
    pids = [s.process.pid for s in supervisor.slots]
    assert first[0].pid not in pids and first[1].pid in pids
    assert len(supervisor.restarts) == 1

