"""The output tokens a request lets one deployment's upstream bill (the limit sent x the choices
generated, thinking included), from config alone: what pipeline/reserve.py holds. Each adapter's
build_request derives the limit it sends from the same function, and reports it on the
UpstreamRequest (`allowance`), never more than this."""

from __future__ import annotations

from collections.abc import Callable

from farebox.providers import anthropic, gemini, openai_compat
from farebox.providers.base import JSON, Target

_BY_KIND: dict[str, Callable[[JSON, Target], int]] = {
    "openai": openai_compat.output_allowance,
    "anthropic": anthropic.output_allowance,
    "gemini": gemini.output_allowance,
    "noop": openai_compat.output_allowance,  # the OpenAI-compatible adapter, in process
}


def output_allowance(body: JSON, target: Target) -> int:
    return _BY_KIND[target.provider.kind](body, target)
