"""Errors by class: errors.py draws its whole tree, no instance changes its status afterwards,
and the service layer's domain refusals become their HTTP answers at the admin API only."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import farebox
from farebox import errors
from farebox.api.admin.common import from_operator
from farebox.services.operator import OperatorError, RecordConflict, RecordNotFound

SRC = Path(farebox.__file__).parent


def test_the_docstring_draws_every_error_class() -> None:
    classes = {name for name, value in vars(errors).items()
               if inspect.isclass(value) and issubclass(value, errors.GatewayError)}
    drawn = set(re.findall(r"^[├└│ ─]*(\w+)\s{2,}", errors.__doc__ or "", re.M))
    assert classes <= drawn, classes - drawn


def test_no_status_or_code_is_set_after_the_fact() -> None:
    # Constructors may take what they are given (UpstreamFailed, UpstreamError); nothing else may.
    mutation = re.compile(r"^\s*(?!self\.)[\w.]+\.(status|code)\s*=", re.M)
    offenders = [f"{p.relative_to(SRC)}" for p in SRC.rglob("*.py") if mutation.search(p.read_text())]
    assert offenders == []


@pytest.mark.parametrize(("refusal", "status", "code"), [
    (RecordNotFound("no account 'x'"), 404, "not_found"),
    (RecordConflict("account 'x' exists already"), 409, "conflict"),
    (OperatorError("limit must be a positive number"), 400, "invalid_request_error"),
])
def test_domain_refusals_map_to_http_at_the_boundary(refusal: OperatorError, status: int, code: str) -> None:
    answer = from_operator(refusal)
    assert (answer.status, answer.code) == (status, code)
    assert answer.message[0].isupper() and answer.message.endswith(".")
    assert not hasattr(refusal, "status")  # the service layer knows no HTTP
