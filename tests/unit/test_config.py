"""Config loading: the built-in default, ${ENV} secrets, and errors that name file, key path and fault."""

from __future__ import annotations

from pathlib import Path

import pytest

from farebox.config import ConfigError, load_config, parse_config

BASE = """
tiers: {starter: {rank: 1, rpm: 60, burst_rpm: 120}}
providers: {up: {kind: openai, base_url: "http://127.0.0.1:1/v1", api_key: "${UP_KEY}"}}
models:
  m: {tier: starter, price: {input: 1, output: 2}, deployments: [{provider: up, model: x}]}
"""


def test_builtin_default_has_noop_test_and_llmdeal_tiers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FAREBOX_CONFIG", raising=False)
    config, source = load_config(None)
    assert source == "<built-in default>"
    assert "noop-test" in config.models
    assert {n: (t.rpm, t.burst_rpm) for n, t in config.tiers.items()} == {
        "starter": (60, 120), "pro": (200, 400), "elite": (500, 1000)}


def test_env_references_are_expanded(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("UP_KEY", "secret-1")
    assert parse_config(BASE, "f.yaml").providers["up"].api_key == "secret-1"


def test_env_default_syntax(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("UP_KEY", raising=False)
    text = BASE.replace("${UP_KEY}", "${UP_KEY:-fallback}")
    assert parse_config(text, "f.yaml").providers["up"].api_key == "fallback"


@pytest.mark.parametrize(("edit", "expected"), [
    (("${UP_KEY}", "${NOT_SET_ANYWHERE}"), "f.yaml: providers.up.api_key: environment variable NOT_SET_ANYWHERE"),
    (("tier: starter, price", "tier: starter, context: big, price"), "f.yaml: models.m.context: Expected `int`"),
    (("kind: openai", "kind: magic"), "f.yaml: providers.up.kind:"),
    (("tier: starter, price", "tier: gold, price"), "f.yaml: models.m.tier: unknown tier 'gold'"),
    (("provider: up, model: x", "provider: nope, model: x"), "models.m.deployments[0].provider: unknown provider"),
    (("burst_rpm: 120", "burst_rpm: 120, colour: red"), "tiers.starter: Object contains unknown field"),
    (("price: {input: 1, output: 2}", "price: upstream"), "models.m.price: 'upstream' pricing is only for wildcard"),
])
def test_invalid_config_names_file_key_path_and_fault(monkeypatch: pytest.MonkeyPatch, edit: tuple[str, str],
                                                       expected: str) -> None:
    monkeypatch.setenv("UP_KEY", "k")
    with pytest.raises(ConfigError) as err:
        parse_config(BASE.replace(*edit), "f.yaml")
    assert expected.replace("`", "") in str(err.value).replace("`", "")


def test_unreadable_and_non_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("tiers: [unclosed")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_config(bad)
