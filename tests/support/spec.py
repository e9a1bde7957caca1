"""The official OpenAI spec as a test oracle (../shared/openai-openapi/validate.py, strict)."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

_ROOT = Path(__file__).resolve().parents[2]
SPEC_DIR = Path(os.environ.get("OPENAI_OPENAPI_DIR", _ROOT.parent / "shared" / "openai-openapi"))
sys.path.insert(0, str(SPEC_DIR))

from validate import validate, validate_sse  # type: ignore[import-not-found]  # noqa: E402


def assert_spec(doc: Any, schema: str) -> None:
    errors = validate(doc, schema)
    assert errors == [], f"{schema} violations: {errors[:5]}\n{doc}"


def assert_sse_spec(body: str) -> None:
    errors = validate_sse(body, "CreateChatCompletionStreamResponse")
    assert errors == [], f"stream violations: {errors[:5]}"
