"""The supervisor of `farebox serve --workers N`: starts N worker processes sharing the port,
restarts one that dies (alone: the others keep serving), and on SIGTERM/SIGINT lets every worker
drain before it exits. Modelled on uvicorn's multiprocess supervisor."""

from __future__ import annotations

import collections
import contextlib
import ctypes
import logging
import multiprocessing.connection
import os
import signal
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from types import FrameType

log = logging.getLogger("farebox")

# What a worker sends up its pipe: LISTENING once its socket accepts, or an error line.
LISTENING = "listening"

_PR_SET_PDEATHSIG = 1  # linux/prctl.h

# A worker gets the pipe's sending end; the factory builds the (unstarted) process.
WorkerFactory = Callable[[Connection], BaseProcess]


@dataclass(frozen=True)
class Policy:
    grace: float  # the workers' drain grace (listen.shutdown_grace_s)
    kill_margin: float = 10.0  # beyond the grace, before a worker that has not exited is SIGKILLed
    backoff: float = 0.5  # before the first restart; doubled for each restart in the window
    max_backoff: float = 8.0
    max_restarts: int = 5  # more restarts than this within `window` seconds: a crash loop, give up
    window: float = 60.0


@dataclass
class _Slot:
    process: BaseProcess
    pipe: Connection
    listening: bool = False
    restart_at: float | None = None  # set while the slot waits (backoff) for its new process


@dataclass
class Supervisor:
    make: WorkerFactory
    workers: int
    policy: Policy
    slots: list[_Slot] = field(default_factory=list)
    restarts: collections.deque[float] = field(default_factory=collections.deque)
    stopping: bool = False

    def run(self, on_listening: Callable[[], None]) -> int:
        """Serve until SIGTERM/SIGINT (exit 0 once every worker drained) or a startup failure or
        crash loop (exit 1). `on_listening` runs once, when every worker accepts connections."""
        saved = {signum: signal.signal(signum, self._stop) for signum in (signal.SIGTERM, signal.SIGINT)}
        try:
            self.slots = [self._spawn() for _ in range(self.workers)]
            if not self._wait_listening():
                self._shutdown()
                return 1
            if not self.stopping:
                on_listening()
            while not self.stopping:
                self._wait(self._next_timeout())
                self._read_pipes()
                if not self.stopping and not self._replace_dead():
                    self._shutdown()
                    return 1
            return self._shutdown()
        finally:
            for signum, handler in saved.items():
                signal.signal(signum, handler)

    def _stop(self, _signum: int, _frame: FrameType | None) -> None:
        self.stopping = True

    def _spawn(self) -> _Slot:
        reader, writer = multiprocessing.Pipe(duplex=False)
        process = self.make(writer)
        process.start()
        writer.close()  # the child has its copy: the reader sees EOF when the child dies
        return _Slot(process, reader)

    def _wait(self, timeout: float) -> None:
        watched: list[object] = [s.process.sentinel for s in self.slots if s.restart_at is None]
        watched += [s.pipe for s in self.slots if s.restart_at is None and not s.listening]
        multiprocessing.connection.wait(watched, timeout=timeout)  # type: ignore[arg-type]

    def _next_timeout(self) -> float:
        due = [s.restart_at for s in self.slots if s.restart_at is not None]
        return max(0.0, min([0.5, *(t - time.monotonic() for t in due)]))

    def _read_pipes(self) -> list[str]:
        """Mark the workers that reported listening; return the errors reported."""
        errors = []
        for slot in self.slots:
            while slot.restart_at is None and not slot.listening and _poll(slot.pipe):
                try:
                    message = slot.pipe.recv()
                except (EOFError, OSError):
                    break
                if message == LISTENING:
                    slot.listening = True
                else:
                    errors.append(str(message))
        return errors

    def _wait_listening(self) -> bool:
        """The first start: every worker listening, else print why (one line) and fail."""
        while not self.stopping and not all(s.listening for s in self.slots):
            self._wait(0.5)
            errors = self._read_pipes()
            dead = [s.process for s in self.slots if not s.listening and not s.process.is_alive()]
            if errors or dead:
                reason = errors[0] if errors else f"a worker exited with code {dead[0].exitcode} before listening"
                print(reason, file=sys.stderr, flush=True)
                return False
        return True

    def _replace_dead(self) -> bool:
        """Schedule a restart for each worker that died; start those whose backoff is over.
        False on a crash loop."""
        now = time.monotonic()
        for i, slot in enumerate(self.slots):
            if slot.restart_at is None and not slot.process.is_alive():
                while self.restarts and self.restarts[0] < now - self.policy.window:
                    self.restarts.popleft()
                if len(self.restarts) >= self.policy.max_restarts:
                    log.error("worker %s exited with code %s; %d restarts in %.0f s: a crash loop, stopping",
                              slot.process.pid, slot.process.exitcode, len(self.restarts), self.policy.window)
                    return False
                delay = min(self.policy.max_backoff, self.policy.backoff * 2 ** len(self.restarts))
                self.restarts.append(now)
                slot.restart_at = now + delay
                slot.pipe.close()
                log.error("worker %s exited with code %s; restarting it in %.1f s",
                          slot.process.pid, slot.process.exitcode, delay)
            elif slot.restart_at is not None and slot.restart_at <= now:
                self.slots[i] = self._spawn()
                log.info("worker %s started", self.slots[i].process.pid)
        return True

    def _shutdown(self) -> int:
        """SIGTERM every worker, wait the grace plus a margin, SIGKILL what is left. 0 when every
        worker stopped on its own."""
        live = [s.process for s in self.slots if s.restart_at is None]
        for process in live:
            if process.is_alive() and process.pid:
                os.kill(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.policy.grace + self.policy.kill_margin
        for process in live:
            process.join(max(0.0, deadline - time.monotonic()))
        killed = [p for p in live if p.is_alive()]
        for process in killed:
            log.error("worker %s still running %.0f s after SIGTERM; killing it", process.pid,
                      self.policy.grace + self.policy.kill_margin)
            process.kill()
            process.join()
        for slot in self.slots:
            slot.pipe.close()
        return 1 if killed else 0


def stop_with_supervisor() -> None:
    """In a worker: SIGTERM (so a drain) when the supervisor dies, even by SIGKILL, rather than
    serving on as an orphan nobody stops. Linux's PR_SET_PDEATHSIG; elsewhere a no-op."""
    parent = multiprocessing.parent_process()
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)
    if parent is not None and os.getppid() != parent.pid:  # it died before the prctl
        os.kill(os.getpid(), signal.SIGTERM)


def _poll(pipe: Connection) -> bool:
    try:
        return pipe.poll()
    except (EOFError, OSError):
        return False
