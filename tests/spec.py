"""The OpenAI spec validator (../shared/openai-openapi/validate.py, or $OPENAI_OPENAPI_DIR)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SPEC_DIR = Path(os.environ.get("OPENAI_OPENAPI_DIR", ROOT / "../shared/openai-openapi"))
sys.path.insert(0, str(SPEC_DIR.resolve()))

from validate import validate  # type: ignore[import-not-found]  # noqa: E402


def assert_valid(doc: Any, schema: str) -> None:
    """Strict validation: what real OpenAI clients may rely on."""
    errors = validate(doc, schema)
    assert errors == [], errors
