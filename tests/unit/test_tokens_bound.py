"""The prompt bound (`PromptSize.upper`, what holds and context checks use) is never below the real
count of cl100k_base and o200k_base, over texts built to defeat an estimate: rare letter pairs,
digit, whitespace and punctuation runs, emoji, CJK (common and rare), random bytes, random
code points, base64, and cheap text placed where a sampler would look with costly text between,
each from a few characters to 300k, in seeded random loops.

The real count of a one-message prompt follows OpenAI's cookbook: 3 to prime the reply, 3 per
message, then the role and the content tokens."""

from __future__ import annotations

import random
import string
from collections.abc import Callable
from typing import Any

import pytest

from farebox.tokens import CL100K, O200K, Profile, estimate_prompt
from farebox.tokens.estimate import SAMPLE_ABOVE
from tests.support.real_tokenizer import real_count

ENCODINGS = [pytest.param("o200k_base", O200K, id="o200k"), pytest.param("cl100k_base", CL100K, id="cl100k")]
SIZES = (1, 2, 7, 50, 333, 4_096, 16_385, 70_000, 300_000)
PROSE = "The quick brown fox jumps over the lazy dog, then naps in the sun. "


def _from(alphabet: str) -> Callable[[random.Random, int], str]:
    return lambda r, n: "".join(r.choices(alphabet, k=n))


def _code_points(low: int, high: int) -> Callable[[random.Random, int], str]:
    def make(r: random.Random, n: int) -> str:
        points = (r.randint(low, high) for _ in range(n))
        return "".join(chr(p) for p in points if not 0xD800 <= p <= 0xDFFF)
    return make


def _random_bytes(r: random.Random, n: int) -> str:
    return r.randbytes(n).decode("utf-8", "replace")


def _runs(r: random.Random, n: int) -> str:
    # Runs of one class after another: digits, spaces/tabs/newlines, punctuation, rare pairs.
    kinds = [string.digits, " \t\n\r\x0b\x0c\u3000", string.punctuation, "zqxjvk", "😀🦀🧪", "中文的한국어"]
    out: list[str] = []
    while sum(map(len, out)) < n:
        out.append("".join(r.choices(r.choice(kinds), k=r.randint(1, 400))))
    return "".join(out)[:n]


def _dodge(r: random.Random, n: int) -> str:
    # Cheap prose where the old sampler's 16 evenly spaced 1 KB windows fall, rare pairs between.
    if n <= SAMPLE_ABOVE:
        return _from("zq")(r, n)
    window = SAMPLE_ABOVE // 16
    step = (n - window) // 15
    chars = list("zq" * (n // 2 + 1))[:n]
    for i in range(16):
        start = i * step
        chars[start : start + window] = (PROSE * (window // len(PROSE) + 1))[:window]
    return "".join(chars)[:n]


GENERATORS: dict[str, Callable[[random.Random, int], str]] = {
    "rare_pairs": _from("zqjxvk"),
    "random_letters": _from(string.ascii_letters),
    "digits": _from(string.digits),
    "digits_and_letters": _from("a1b2c3"),
    "whitespace": _from(" \t\n\r"),
    "punctuation": _from(string.punctuation),
    "base64": _from(string.ascii_letters + string.digits + "+/="),
    "emoji": _code_points(0x1F300, 0x1FAFF),
    "cjk_common": _code_points(0x4E00, 0x9FFF),
    "cjk_rare": _code_points(0x20000, 0x2FFFF),
    "any_code_point": _code_points(0x20, 0x10FFFF),
    "random_bytes": _random_bytes,
    "class_runs": _runs,
    "dodge_windows": _dodge,
}


def one_message(content: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": content}]}


def real_prompt(encoding: str, *texts: str) -> int:
    return 3 + 3 + real_count(encoding, "user") + sum(real_count(encoding, t) for t in texts)


@pytest.mark.parametrize(("encoding", "profile"), ENCODINGS)
@pytest.mark.parametrize("kind", sorted(GENERATORS))
def test_bound_holds_for_adversarial_text(encoding: str, profile: Profile, kind: str) -> None:
    r = random.Random(f"{kind}-{encoding}")
    for size in SIZES:
        for _ in range(3 if size < 10_000 else 1):
            text = GENERATORS[kind](r, size)
            size_ = estimate_prompt(one_message(text), profile)
            assert size_.upper >= real_prompt(encoding, text), (kind, size, size_)


@pytest.mark.parametrize(("encoding", "profile"), ENCODINGS)
def test_bound_holds_for_random_mixtures(encoding: str, profile: Profile) -> None:
    # Seeded random loop: several messages, each a mixture of generated pieces, text parts too.
    r = random.Random(encoding)
    names = sorted(GENERATORS)
    for _ in range(40):
        texts = ["".join(GENERATORS[r.choice(names)](r, r.choice(SIZES[:7])) for _ in range(r.randint(1, 5)))
                 for _ in range(r.randint(1, 4))]
        body = {"messages": [{"role": "user", "content": [{"type": "text", "text": t}]} for t in texts]}
        real = 3 + sum(3 + real_count(encoding, "user") + real_count(encoding, t) for t in texts)
        assert estimate_prompt(body, profile).upper >= real


@pytest.mark.parametrize(("encoding", "profile"), ENCODINGS)
def test_bound_holds_for_tools_and_tool_calls(encoding: str, profile: Profile) -> None:
    # Tools by the cookbook's rendering (7 per function, 3 per property, 12 at the end).
    r = random.Random(7)
    for size in (10, 1_000, 20_000):
        description = _runs(r, size)
        args = _from(string.punctuation + string.digits)(r, size)
        tool = {"type": "function", "function": {"name": "f", "description": description, "parameters": {
            "type": "object", "properties": {"x": {"type": "string", "description": description}}}}}
        call = {"id": "c", "type": "function", "function": {"name": "f", "arguments": args}}
        body = {"messages": [{"role": "assistant", "content": None, "tool_calls": [call]}], "tools": [tool]}
        real = (3 + 3 + real_count(encoding, "assistant") + real_count(encoding, "f") + real_count(encoding, args)
                + 7 + real_count(encoding, f"f:{description}") + 3 + 3
                + real_count(encoding, f"x:string:{description}") + 12)
        assert estimate_prompt(body, profile).upper >= real


def test_bound_is_at_least_the_estimate_and_grows_with_bytes() -> None:
    for text in ("", "hi", PROSE * 1000, "中" * 100_000, "😀" * 10):
        size = estimate_prompt(one_message(text))
        assert size.upper >= size.estimate
        assert size.upper >= len(text.encode())


def test_ordinary_text_keeps_its_calibrated_estimate() -> None:
    # The bound does not replace the estimate (its accuracy: test_tokens_corpus.py); English
    # costs ~4.3 bytes per token, so the bound is ~4x the estimate there.
    size = estimate_prompt(one_message(PROSE * 100))
    assert size.estimate == pytest.approx(real_prompt("o200k_base", PROSE * 100), rel=0.2)
    assert size.upper > 3 * size.estimate


def test_media_parts_are_bounded_by_their_size() -> None:
    def with_part(part: dict[str, Any]) -> int:
        return estimate_prompt(one_message([part])).upper

    audio = {"type": "input_audio", "input_audio": {"data": "A" * 4_000_000, "format": "wav"}}  # 3 MB
    assert with_part(audio) >= 3_000_000 // 8
    small = {"type": "input_audio", "input_audio": {"data": "AAAA", "format": "wav"}}
    assert with_part(small) >= 500
    pdf = {"type": "file", "file": {"filename": "a.pdf", "file_data": "data:application/pdf;base64," + "A" * 400_000}}
    assert with_part(pdf) >= 300_000
    image = {"type": "image_url", "image_url": {"url": "https://example.com/cat.png", "detail": "low"}}
    assert with_part(image) >= 1_445
    unknown = {"type": "video_url", "video_url": {"url": "x" * 10_000}}
    assert with_part(unknown) >= 10_000
