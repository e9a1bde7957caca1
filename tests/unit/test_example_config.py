"""farebox.example.yaml at the repo root loads, with dummy secrets, into a working catalogue."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from farebox.config import ConfigError, parse_config
from farebox.providers.openai_compat import OpenAICompatProvider
from farebox.providers.registry import build_adapters
from farebox.routing.catalog import Catalog

EXAMPLE = Path(__file__).resolve().parents[2] / "farebox.example.yaml"
REQUIRED = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")  # ${NAME} without a default


def test_example_config_loads_with_its_env_vars_set(monkeypatch: pytest.MonkeyPatch) -> None:
    text = EXAMPLE.read_text()
    names = set(REQUIRED.findall(text))
    assert {"GROQ_API_KEY", "DEEPSEEK_API_KEY", "OPENROUTER_API_KEY", "ANTHROPIC_API_KEY"} <= names
    for name in names:
        monkeypatch.setenv(name, f"dummy-{name.lower()}")
    config = parse_config(text, str(EXAMPLE))
    assert config.providers["deepseek"].api_key == "dummy-deepseek_api_key"
    adapters = build_adapters(config)
    mistral, groq = adapters["mistral"], adapters["groq"]
    assert isinstance(mistral, OpenAICompatProvider) and isinstance(groq, OpenAICompatProvider)
    assert mistral.preset.name == "mistral" and groq.preset.name == "groq"
    catalog = Catalog(config, {n: a.supported_features for n, a in adapters.items()})
    for model_id in ("qwen-coder-32b", "llama-3.3-70b-self-hosted", "llama-3.1-8b-instant", "deepseek-chat",
                     "deepseek-reasoner", "codestral", "qwen3-235b-cerebras", "gemini-2.5-flash",
                     "claude-sonnet-4.5"):
        assert catalog.get(model_id).rates is not None
    assert catalog.wildcard_routes("pro")[0].id == "openrouter/*"
    assert "logprobs" not in catalog.get("llama-3.1-8b-instant").features


def test_example_config_names_a_missing_secret(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in set(REQUIRED.findall(EXAMPLE.read_text())):
        monkeypatch.setenv(name, "x")
    monkeypatch.delenv("MISTRAL_API_KEY")
    with pytest.raises(ConfigError, match="MISTRAL_API_KEY is not set"):
        parse_config(EXAMPLE.read_text(), str(EXAMPLE))
