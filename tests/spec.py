"""The OpenAI spec validator (../shared/openai-openapi/validate.py), found through OPENAI_OPENAPI_DIR."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPEC_DIR = (ROOT / os.environ.get("OPENAI_OPENAPI_DIR", "../shared/openai-openapi")).resolve()
sys.path.insert(0, str(SPEC_DIR))

from validate import validate as _validate  # type: ignore[import-not-found]  # noqa: E402


def validate(doc: Any, schema: str) -> list[str]:
    """Strict-mode errors of `doc` against a component schema; [] when valid."""
    result: list[str] = _validate(doc, schema)
    return result
