"""Provider kind -> adapter class, and building the adapters a config declares."""

from __future__ import annotations

from typing import Any

from farebox.config import Config, ConfigError
from farebox.providers.noop import NoopProvider
from farebox.providers.openai_compat import OpenAICompatProvider

ADAPTERS: dict[str, Any] = {
    "openai": OpenAICompatProvider,
    "noop": NoopProvider,
}


def build_adapters(config: Config, source: str = "config") -> dict[str, Any]:
    adapters: dict[str, Any] = {}
    for name, provider in config.providers.items():
        cls = ADAPTERS.get(provider.kind)
        if cls is None:
            raise ConfigError(f"{source}: providers.{name}.kind: {provider.kind!r} is not available")
        try:
            adapters[name] = cls(name, provider)
        except ValueError as exc:
            raise ConfigError(f"{source}: providers.{name}: {exc}") from None
    return adapters
