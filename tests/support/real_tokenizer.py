"""The real cl100k_base and o200k_base tokenizers, offline: tiktoken (the reference
implementation) with the BPE files that the `bpe-openai` wheel ships (both from PyPI, in the
`dev` extra). tiktoken looks for each file in TIKTOKEN_CACHE_DIR under sha1(url) and checks
it against OpenAI's published SHA-256, so the counts are those of the published encodings.
Tests that need them skip when the packages are missing."""

from __future__ import annotations

import functools
import gzip
import hashlib
import os
import tempfile
from pathlib import Path
from typing import Any

import pytest

URLS = {
    "o200k_base": "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken",
    "cl100k_base": "https://openaipublic.blob.core.windows.net/encodings/cl100k_base.tiktoken",
}


@functools.cache
def real_encodings() -> dict[str, Any]:
    """{"o200k_base": Encoding, "cl100k_base": Encoding}, loaded once per process."""
    tiktoken = pytest.importorskip("tiktoken")
    bpe_openai = pytest.importorskip("bpe_openai")
    data = Path(bpe_openai.__file__).parent / "data"
    cache = Path(tempfile.mkdtemp(prefix="tiktoken-cache-"))
    for name, url in URLS.items():
        raw = gzip.decompress((data / f"{name}.tiktoken.gz").read_bytes())
        (cache / hashlib.sha1(url.encode()).hexdigest()).write_bytes(raw)
    previous = os.environ.get("TIKTOKEN_CACHE_DIR")
    os.environ["TIKTOKEN_CACHE_DIR"] = str(cache)
    try:
        return {name: tiktoken.get_encoding(name) for name in URLS}
    finally:
        if previous is None:
            del os.environ["TIKTOKEN_CACHE_DIR"]
        else:
            os.environ["TIKTOKEN_CACHE_DIR"] = previous


def real_count(encoding: str, text: str) -> int:
    return len(real_encodings()[encoding].encode_ordinary(text))
