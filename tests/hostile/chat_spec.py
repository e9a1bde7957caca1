"""The official spec cut down to `POST /chat/completions` and the schemas it references, for
schemathesis: the whole 3 MB document would cost seconds per load and generate for 200 routes.
The spec is read once per session through the same cache tests/spec.py validates with."""

from __future__ import annotations

import functools
import sys
from typing import Any

import schemathesis

from tests.hostile.driver import Operation
from tests.spec import validate

load_spec = sys.modules[validate.__module__].load_spec  # the vendored loader, with its cache

PATH = "/chat/completions"


def _refs(node: Any, found: set[str]) -> None:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                found.add(value)
            elif not key.startswith("x-") and key not in ("example", "examples"):
                _refs(value, found)
    elif isinstance(node, list):
        for value in node:
            _refs(value, found)


def chat_spec() -> dict[str, Any]:
    """An OpenAPI 3.1 document with one operation and the components it reaches (`nullable`
    already rewritten to 3.1's form by the validator's loader)."""
    full = load_spec()
    operation = {k: v for k, v in full["paths"][PATH]["post"].items() if not k.startswith("x-")}
    components: dict[str, dict[str, Any]] = {"securitySchemes": dict(full["components"]["securitySchemes"])}
    pending: set[str] = set()
    _refs(operation, pending)
    seen: set[str] = set()
    while pending:
        ref = pending.pop()
        if ref in seen:
            continue
        seen.add(ref)
        _, _, kind, name = ref.split("/")  # "#/components/<kind>/<name>"
        node = full["components"][kind][name]
        components.setdefault(kind, {})[name] = node
        _refs(node, pending)
    return {"openapi": full["openapi"], "info": {"title": "OpenAI chat", "version": full["info"]["version"]},
            "security": [{"ApiKeyAuth": []}], "paths": {PATH: {"post": operation}}, "components": components}


@functools.cache
def chat_operation() -> Operation:
    return schemathesis.openapi.from_dict(chat_spec())[PATH]["POST"]
