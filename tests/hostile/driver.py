"""Sending schemathesis cases to a real gateway and judging each answer (tests/hostile/verdict.py)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, TypeAlias

import requests
from schemathesis import Case, GenerationMode
from schemathesis.generation.drivers import CoverageGenerator
from schemathesis.generation.feedback import FeedbackSources
from schemathesis.generation.overrides import Override
from schemathesis.schemas import APIOperation

from tests.hostile.verdict import fault

# schemathesis's own parameters for an operation loaded from a dict, and its cases
Operation: TypeAlias = APIOperation[Any, Any, Any, Any]
AnyCase: TypeAlias = Case[Operation]
TIMEOUT = 15  # seconds: far above any honest answer on loopback, so only a hang reaches it


class Driver:
    """Sends cases as schemathesis serialises them, with a valid token unless the case is about
    the Authorization header itself (`auth_cases=False` skips those: failed admin logins are
    throttled, and tested by hand). `rename(n, model)` may give the n-th body another model
    than the spec's, so valid requests also reach routing, billing and the upstream."""

    def __init__(self, base_url: str, token: str, rename: Callable[[int, str], str] | None = None,
                 auth_cases: bool = True) -> None:
        self.base_url = base_url
        self.auth_cases = auth_cases
        self.rename = rename
        self.headers = {"Authorization": f"Bearer {token}"}
        self.sent = 0
        self.statuses: dict[int, int] = {}
        self.faults: list[str] = []

    def send(self, case: AnyCase) -> None:
        phase = case.meta.phase.data if case.meta else None
        if not self.auth_cases and getattr(phase, "parameter", None) == "Authorization":
            return
        self.sent += 1
        if self.rename and isinstance(case.body, dict) and isinstance(model := case.body.get("model"), str):
            case.body["model"] = self.rename(self.sent, model)
        try:
            # A fresh connection each time: drawing a case can outlast the keep-alive timeout, and
            # a request racing the server's close of an idle connection would look like a fault.
            reply = case.call(base_url=self.base_url, headers=self.headers, timeout=TIMEOUT)
        except requests.RequestException as exc:
            self.faults.append(f"no answer ({str(exc)[:300]}): {case.as_curl_command()[:400]}")
            return
        self.statuses[reply.status_code] = self.statuses.get(reply.status_code, 0) + 1
        content_type = (reply.headers.get("content-type") or [""])[0]  # schemathesis: lowercase keys, lists
        if problem := fault(reply.status_code, content_type, reply.content):
            self.faults.append(f"{problem}\n  {case.as_curl_command()[:400]}")

    def report(self) -> str:
        return f"{len(self.faults)} of {self.sent} ({self.statuses}):\n" + "\n".join(self.faults[:10])


def coverage_cases(operation: Operation) -> Iterable[AnyCase]:
    """Schemathesis's coverage phase for one operation: deterministic, valid and invalid."""
    generation = operation.schema.config.generation_for(operation=operation, phase="coverage")
    return CoverageGenerator(operation=operation, generation_modes=list(GenerationMode),
                             generation_config=generation, auth_storage=None, override=Override(),
                             feedback=FeedbackSources())
