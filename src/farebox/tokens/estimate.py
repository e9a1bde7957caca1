"""Calibrated token estimate for text, without a tokenizer on the request path.

A BPE tokenizer (o200k_base, cl100k_base, Llama 3, Qwen...) first splits text into pieces by
a regex: letter runs with their leading space, digit groups of up to three, punctuation runs,
newlines; CJK and other non-ASCII text is split into a few bytes' worth per token. So the
count is close to a linear function of a few character-class counts, which str and bytes
methods give in C at a few passes over the text:

    letters, digit runs, punctuation, punctuation runs, spaces, newlines (ASCII part), and
    characters of 2, 3 and 4 UTF-8 bytes (accented/Cyrillic/Greek..., CJK/kana/Hangul and
    symbols such as curly quotes, and emoji).

The weights were fitted (non-negative least squares, weighted by 1/sqrt(count)) to real
counts that tiktoken recorded for a corpus of English, Python/Rust/JS code, JSON, Chinese,
Japanese, Korean, mixed text, short chat messages and opaque strings (base64, hashes, URLs):
tests/fixtures/tokens/ holds the corpus, the script that recorded it and the fitting script.
Measured on that corpus (tests/unit/test_tokens_corpus.py), the estimate is within 8% of the
real count per category and within 1% in total, for both encodings; single texts can be off
by up to ~30% (short CJK texts vary most, as the tokenizers' vocabularies favour some
words), so use it for budgets and holds, not for billing an upstream's counted tokens.

Where CJK matters, the encodings differ by half (o200k_base ~0.76 token per Chinese
character, cl100k_base ~1.12), so there are two profiles. O200K is the default: current
OpenAI models, and close for tokenizers with large multilingual vocabularies (Qwen,
DeepSeek, Gemini). CL100K fits older OpenAI models and Llama 3 (a cl100k superset), and is
the conservative choice where the tokenizer is unknown (e.g. Anthropic's).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Profile:
    """Token weights per character-class count (see the module docstring)."""

    name: str
    letter: float
    digit_run: float
    punct: float
    punct_run: float
    space: float
    newline: float
    two_byte: float
    three_byte: float
    four_byte: float


# Fitted by tests/fixtures/tokens/fit_weights.py against tests/fixtures/tokens/corpus.json.
O200K = Profile("o200k_base", 0.214, 2.431, 0.205, 0.652, 0.053, 0.228, 0.323, 0.760, 2.145)
CL100K = Profile("cl100k_base", 0.214, 2.494, 0.129, 0.756, 0.046, 0.207, 0.682, 1.115, 3.137)

PROFILES = {p.name: p for p in (O200K, CL100K)}


def _table(pick: str, chars: str) -> bytes:
    # Byte translation table: ASCII bytes in `chars` become `pick`, all others "b".
    table = bytearray(b"b" * 256)
    for ch in chars:
        table[ord(ch)] = ord(pick)
    return bytes(table)


_DIGITS = "0123456789"
_SPACES = " \t\r\x0b\x0c"
_PUNCT = "".join(chr(i) for i in range(128) if not chr(i).isalnum() and chr(i) not in _SPACES + "\n")
# One pass maps ASCII to classes: digit "0", punctuation ".", space " ", newline "\n", other "b".
_CLASSES = bytearray(_table("b", ""))
for _chars, _mark in ((_DIGITS, "0"), (_PUNCT, "."), (_SPACES, " "), ("\n", "\n")):
    for _ch in _chars:
        _CLASSES[ord(_ch)] = ord(_mark)
_CLASS_TABLE = bytes(_CLASSES)
# Digit runs are rare: splitting on everything else is cheapest. Punctuation runs are
# counted as "b" followed by "a" once punctuation is mapped to "a".
_DIGIT_RUNS = _table("0", "0").replace(b"b", b" ")
_PUNCT_RUNS = _table("a", ".")
_NON_ASCII = bytes(range(128, 256))


def features(text: str) -> tuple[int, int, int, int, int, int, int, int, int]:
    """Character-class counts in the order of Profile's weights."""
    if text.isascii():
        classes = text.encode("ascii").translate(_CLASS_TABLE)
        two = three = four = 0
    else:
        utf8 = text.encode("utf-8", "surrogatepass")
        classes = utf8.translate(_CLASS_TABLE, _NON_ASCII)
        # Emoji and other astral characters start with 0xF0 (planes 1-3); the other
        # multi-byte lengths then follow from the UTF-8 and character lengths.
        four = utf8.count(b"\xf0")
        rest = len(text) - len(classes) - four
        three = len(utf8) - len(classes) - 4 * four - 2 * rest
        two = rest - three
    digits = classes.count(b"0")
    punct = classes.count(b".")
    spaces = classes.count(b" ")
    newlines = classes.count(b"\n")
    letters = len(classes) - digits - punct - spaces - newlines
    return (
        letters,
        len(classes.translate(_DIGIT_RUNS).split()),
        punct,
        _runs(classes.translate(_PUNCT_RUNS)),
        spaces,
        newlines,
        two,
        three,
        four,
    )


def _runs(marked: bytes) -> int:
    return marked.count(b"ba") + (marked[:1] == b"a")


def text_tokens(text: str, profile: Profile = O200K) -> int:
    """Estimated tokens of `text` for `profile`'s tokenizer; at least 1 for non-empty text."""
    if not text:
        return 0
    f = _sampled_features(text) if len(text) > SAMPLE_ABOVE else features(text)
    p = profile
    total = (
        p.letter * f[0]
        + p.digit_run * f[1]
        + p.punct * f[2]
        + p.punct_run * f[3]
        + p.space * f[4]
        + p.newline * f[5]
        + p.two_byte * f[6]
        + p.three_byte * f[7]
        + p.four_byte * f[8]
    )
    return max(1, round(total))


# Longer texts are estimated from evenly spaced windows, scaled by length, so one call costs
# at most about SAMPLE_ABOVE characters' work (class mixes change slowly along a text).
SAMPLE_ABOVE = 16_384
_WINDOWS = 16
_WINDOW = SAMPLE_ABOVE // _WINDOWS


def _sampled_features(text: str) -> tuple[float, ...]:
    step = (len(text) - _WINDOW) // (_WINDOWS - 1)
    sample = "".join(text[i * step : i * step + _WINDOW] for i in range(_WINDOWS))
    scale = len(text) / len(sample)
    return tuple(v * scale for v in features(sample))


# Model-name prefixes of families whose tokenizers count like o200k_base (large multilingual
# vocabularies); everything else gets CL100K, the higher (safer) estimate for CJK text.
_O200K_FAMILIES = (
    "gpt-4o",
    "gpt-4.1",
    "gpt-4.5",
    "gpt-5",
    "chatgpt-4o",
    "o1",
    "o3",
    "o4",
    "gpt-oss",
    "qwen",
    "deepseek",
    "gemini",
)


# Families known to count like cl100k_base (older OpenAI models, Llama 3's superset of it).
_CL100K_FAMILIES = ("gpt-4", "gpt-3.5", "llama-3", "llama3", "meta-llama-3", "text-embedding-3")


def profile_for_model(model: str, default: Profile = CL100K) -> Profile:
    """The profile for a model name (any "vendor/" prefix is ignored); `default` for a name of no
    known family (CL100K, the higher estimate for CJK text, unless the caller knows better)."""
    name = model.rsplit("/", 1)[-1].lower()
    if name.startswith(_O200K_FAMILIES):
        return O200K
    return CL100K if name.startswith(_CL100K_FAMILIES) else default
