"""The official OpenAI spec as a test oracle, strict mode: the copy vendored in
tests/vendor/openai_openapi (origin and licence in its VENDOR.md), or $OPENAI_OPENAPI_DIR."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SPEC_DIR = Path(os.environ.get("OPENAI_OPENAPI_DIR", ROOT / "tests/vendor/openai_openapi"))
sys.path.insert(0, str(SPEC_DIR.resolve()))

from validate import validate, validate_sse  # type: ignore[import-not-found]  # noqa: E402

__all__ = ["assert_sse_valid", "assert_valid", "validate"]


def assert_valid(doc: Any, schema: str) -> None:
    """Strict validation: what real OpenAI clients may rely on."""
    errors = validate(doc, schema)
    assert errors == [], f"{schema}: {errors[:5]}\n{doc}"


def assert_sse_valid(body: str) -> None:
    """Every event of an SSE body is a valid chunk (or error), and it ends with [DONE]."""
    errors = validate_sse(body, "CreateChatCompletionStreamResponse")
    assert errors == [], errors[:5]
