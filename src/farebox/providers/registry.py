"""Provider kind -> adapter class (and, for `noop`, its in-process transport), and building the
adapters a config declares."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from farebox.config import Config, ConfigError, ProviderConfig
from farebox.providers.anthropic import AnthropicProvider
from farebox.providers.base import Provider
from farebox.providers.gemini import GeminiProvider
from farebox.providers.noop import NoopTransport
from farebox.providers.openai_compat import OpenAICompatProvider
from farebox.providers.transport import Transport

ADAPTERS: dict[str, Callable[[str, ProviderConfig], Provider]] = {
    "openai": OpenAICompatProvider,
    "anthropic": AnthropicProvider,
    "gemini": GeminiProvider,
    "noop": OpenAICompatProvider,  # over NoopTransport, with the noop preset (presets.preset_of)
}
# Kinds answered in process; every other kind goes over the network (pipeline/transport.py).
IN_PROCESS: dict[str, Callable[[ProviderConfig], Transport]] = {"noop": NoopTransport}


def build_adapters(config: Config, source: str = "config") -> Mapping[str, Provider]:
    adapters: dict[str, Provider] = {}
    for name, provider in config.providers.items():
        cls = ADAPTERS.get(provider.kind)
        if cls is None:
            raise ConfigError(f"{source}: providers.{name}.kind: {provider.kind!r} is not available")
        try:
            adapters[name] = cls(name, provider)
        except ValueError as exc:
            raise ConfigError(f"{source}: providers.{name}: {exc}") from None
    return adapters


def in_process_transport(config: ProviderConfig) -> Transport | None:
    """The transport of a provider answered in process (`kind: noop`), else None."""
    make = IN_PROCESS.get(config.kind)
    return None if make is None else make(config)
