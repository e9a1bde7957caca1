"""Time the prompt estimate per KB of prompt (run by hand: PYTHONPATH=src python bench/estimate_timeit.py).

Prints microseconds per call and per KB for prompts of English, code, CJK and emoji text at a
few sizes, through farebox.tokens.estimate_prompt (both numbers, one walk).
"""

from __future__ import annotations

import json
import timeit
from pathlib import Path

from farebox import tokens

CORPUS = json.loads((Path(__file__).parent.parent / "tests/fixtures/tokens/corpus.json").read_text("utf-8"))["samples"]


def text_of(category: str) -> str:
    return "\n".join(s["text"] for s in CORPUS if s["category"] == category)


def main() -> None:
    measure = getattr(tokens, "estimate_prompt", tokens.estimate_prompt_tokens)
    for category in ("english", "code_python", "cjk_zh", "mixed"):
        unit = text_of(category)
        for size in (1_000, 16_000, 200_000, 1_000_000):
            text = (unit * (size // len(unit) + 1))[:size]
            body = {"messages": [{"role": "user", "content": text}]}
            kb = len(text.encode()) / 1024
            runs = max(3, int(2_000_000 / size))
            best = min(timeit.repeat(lambda b=body: measure(b), number=runs, repeat=3)) / runs * 1e6
            print(f"{category:12} {size:>9} chars  {best:9.1f} us/call  {best / kb:6.2f} us/KB")


if __name__ == "__main__":
    main()
