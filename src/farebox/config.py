"""The farebox.yaml model. Unknown keys are rejected; every field has a default or is required.

Loading expands `${ENV}` / `${ENV:-default}` references, then converts strictly with msgspec,
so a wrong type or unknown key fails at start with the file, the key path and what is wrong.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable
from importlib import resources
from pathlib import Path
from typing import Annotated, Any, Literal

import msgspec
import yaml

from farebox.billable_params import allow_params_problem
from farebox.protocol.openai import located

Feature = Literal[
    "tools", "tool_choice", "json_object", "json_schema", "vision", "logprobs", "reasoning", "prompt_cache"
]
FEATURES: tuple[str, ...] = Feature.__args__  # type: ignore[attr-defined]
ProviderKind = Literal["openai", "anthropic", "gemini", "noop"]
# What a store shared through Redis (rate limits, holds) does while Redis is unreachable:
# "open" goes on with this process's own copy, "closed" refuses (503).
FailurePolicy = Literal["open", "closed"]


class _Strict(msgspec.Struct, forbid_unknown_fields=True, frozen=True, kw_only=True):
    pass


class Listen(_Strict, frozen=True, kw_only=True):
    host: str = "127.0.0.1"
    port: int = 8080
    # On SIGTERM/SIGINT: how long in-flight requests may run on before they are cancelled (and
    # billed as abandoned); docs/scale-out.md.
    shutdown_grace_s: Annotated[float, msgspec.Meta(ge=0)] = 30.0


class AdminListen(_Strict, frozen=True, kw_only=True):
    """Where the admin API listens when it is kept off the public listener (docs/security.md)."""

    host: str = "127.0.0.1"
    port: int = 8081


class Tier(_Strict, frozen=True, kw_only=True):
    rank: int
    rpm: int  # sustained requests per minute
    burst_rpm: int | None = None  # rate allowed for a 30 s burst; default = rpm (no burst)
    tpm: int | None = None  # optional tokens per minute (off when absent)
    max_concurrent: int | None = None  # optional concurrent requests per key (off when absent)
    smart_route: list[str] | None = None  # restrict smart-route's pool for this tier
    max_n: int = 8  # most choices (`n`) one request may ask for: each is held and billed in full


class Timeouts(_Strict, frozen=True, kw_only=True):
    """Seconds. Defaults suit LLM traffic: long generations must not be cut."""

    connect: float = 10.0
    first_byte: float = 120.0
    idle: float = 120.0
    total: float = 1800.0  # a stream, from the request to its last byte
    # A non-streaming request (capped by `total` too): the upstream answers only once it has
    # generated everything, and until then the request holds its credit hold and a connection
    # (OpenAI's SDKs wait 600 s).
    total_json: float = 600.0


class ProviderConfig(_Strict, frozen=True, kw_only=True):
    kind: ProviderKind
    base_url: str | None = None
    api_key: str | None = None
    preset: str | None = None  # openai-compatible quirks: vllm, llamacpp, ollama, deepseek, mistral...
    headers: dict[str, str] = {}
    timeouts: Timeouts = Timeouts()
    drop_params: list[str] = []  # request fields never sent to this provider
    max_connections: int = 1000
    latency_ms: float = 0.0  # noop only: delay before the reply
    chunk_delay_ms: float = 0.0  # noop only: delay between streamed chunks
    price_refresh_s: float = 3600.0  # `price: upstream` wildcard routes: how often to re-read GET /models


class Price(_Strict, frozen=True, kw_only=True):
    """USD per 1M tokens."""

    input: float
    output: float
    cached_input: float | None = None  # default: input
    cache_write: float | None = None  # default: input


class Deployment(_Strict, frozen=True, kw_only=True):
    provider: str
    model: str
    priority: int = 1  # lower is tried first
    weight: int = 1  # traffic share within one priority


class Modalities(_Strict, frozen=True, kw_only=True):
    input: list[str] = msgspec.field(default_factory=lambda: ["text"])
    output: list[str] = msgspec.field(default_factory=lambda: ["text"])


class ModelConfig(_Strict, frozen=True, kw_only=True):
    tier: str
    context: int = 8192
    max_output: int = 4096
    price: Price | Literal["upstream"]
    features: list[Feature] = []
    deployments: list[Deployment] = []
    provider: str | None = None  # shorthand: one deployment, or the provider of a wildcard route
    owned_by: str | None = None
    modalities: Modalities | None = None
    description: str | None = None
    max_body_bytes: int | None = None  # above `limits.max_body_bytes` for this model (vision: images)
    # Request fields beyond the priced allow-list its OpenAI-compatible deployments may receive
    # (docs/providers.md); a price-changing one only with a price rule, checked at load.
    allow_params: list[str] = []


class BodyLimits(_Strict, frozen=True, kw_only=True):
    """Bounds on one request's body: the work a request can cost before any check of the caller's
    balance stays small (docs/security.md)."""

    max_body_bytes: int = 4 * 1024 * 1024  # a model may raise it for itself
    client_timeout: float = 30.0  # a client stalling while sending a request is cut off after this
    max_json_depth: int = 64
    max_messages: int = 2048
    max_content_parts: int = 4096  # across all messages

    def read_limit(self, models: dict[str, ModelConfig]) -> int:
        """The most any request may send: the largest of the global and per-model limits."""
        return max([self.max_body_bytes, *(m.max_body_bytes or 0 for m in models.values())])

    def body_limit(self, models: dict[str, ModelConfig], model: object) -> int:
        config = models.get(model) if isinstance(model, str) else None
        return (config.max_body_bytes if config and config.max_body_bytes else None) or self.max_body_bytes


class ServerLimits(_Strict, frozen=True, kw_only=True):
    """What one client may take of a gateway process's connections (docs/security.md)."""

    header_timeout: float = 30.0  # a connection must deliver a whole request's headers within this
    keepalive_timeout: float = 30.0  # an idle keep-alive connection is closed after this
    max_connections: int = 10_000  # per process; the next one is answered 503 and closed
    max_connections_per_address: int = 1_000  # per client address; 0 = no cap (behind a proxy)


class RateLimits(_Strict, frozen=True, kw_only=True):
    scope: Literal["key", "account"] = "key"
    on_redis_failure: FailurePolicy = "open"


class Holds(_Strict, frozen=True, kw_only=True):
    """Holds shared through Redis (when `redis:` is set), so several processes never overspend."""

    on_redis_failure: FailurePolicy = "closed"  # closed: 503; open: this process's own holds
    owner_ttl: float = 10.0  # seconds without a heartbeat before a process's holds are reclaimed


class Billing(_Strict, frozen=True, kw_only=True):
    # Where charges that could not be committed yet wait on disk (docs/billing.md). Default: next
    # to a SQLite file, else ~/.local/state/farebox/spool-<hash of the database URL>.
    spool_dir: str | None = None


class FailoverConfig(_Strict, frozen=True, kw_only=True):
    max_attempts: int = 5
    deadline: float = 60.0  # seconds before the first byte, over all attempts
    backoff_base: float = 0.05  # seconds; full jitter, doubling per retry of an already-tried deployment
    backoff_max: float = 2.0
    max_retry_after: float = 5.0  # wait for an upstream's shorter Retry-After; skip the deployment if longer


class CircuitConfig(_Strict, frozen=True, kw_only=True):
    consecutive_failures: int = 5
    error_rate: float = 0.5
    window: int = 20
    cooldown: float = 30.0


class CatalogConfig(_Strict, frozen=True, kw_only=True):
    agents_min_context: int = 32768


class Config(_Strict, frozen=True, kw_only=True):
    database: str = "sqlite:///farebox.db"
    redis: str | None = None
    listen: Listen = Listen()
    admin_listen: AdminListen | None = None  # set: /admin/v1 only there, not on `listen`
    admin_key: str | None = None  # default: the FAREBOX_ADMIN_KEY environment variable
    tiers: dict[str, Tier]
    providers: dict[str, ProviderConfig]
    models: dict[str, ModelConfig]
    limits: BodyLimits = BodyLimits()
    server: ServerLimits = ServerLimits()
    rate_limits: RateLimits = RateLimits()
    holds: Holds = Holds()
    billing: Billing = Billing()
    failover: FailoverConfig = FailoverConfig()
    circuit: CircuitConfig = CircuitConfig()
    catalog: CatalogConfig = CatalogConfig()
    log_requests: bool = True


class ConfigError(Exception):
    """A config problem, phrased for the operator: file, key path, what is wrong."""


_ENV_REF = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")
DEFAULT_CONFIG = "default.yaml"
BUILT_IN = "<built-in default>"  # the source name of the embedded default config


def load_config(path: str | os.PathLike[str] | None = None) -> tuple[Config, str]:
    """Load the config from `path`, else FAREBOX_CONFIG, else the built-in default."""
    path = path or os.environ.get("FAREBOX_CONFIG") or None
    if path is None:
        text = resources.files("farebox").joinpath(DEFAULT_CONFIG).read_text()
        return parse_config(text, BUILT_IN), BUILT_IN
    try:
        text = Path(path).read_text()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None
    return parse_config(text, str(path)), str(path)


def parse_config(text: str, source: str) -> Config:
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{source}: not valid YAML: {exc}") from None
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: the top level must be a mapping")
    raw = _expand_env(raw, source, "")
    try:
        config = msgspec.convert(raw, Config, strict=True)
    except msgspec.ValidationError as exc:
        raise ConfigError(f"{source}: {_locate(raw) or _describe(str(exc))}") from None
    _check_references(config, source)
    return config


def _expand_env(node: Any, source: str, path: str) -> Any:
    if isinstance(node, dict):
        return {k: _expand_env(v, source, f"{path}.{k}" if path else str(k)) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_env(v, source, f"{path}[{i}]") for i, v in enumerate(node)]
    if isinstance(node, str) and "${" in node:

        def substitute(match: re.Match[str]) -> str:
            name, default = match.group(1), match.group(2)
            value = os.environ.get(name, default)
            if value is None:
                raise ConfigError(f"{source}: {path}: environment variable {name} is not set")
            return value

        return _ENV_REF.sub(substitute, node)
    return node


_SECTIONS: dict[str, type] = {"tiers": Tier, "providers": ProviderConfig, "models": ModelConfig}


def _locate(raw: dict[str, Any]) -> str | None:
    """msgspec writes dict keys as `[...]`; convert entry by entry to name the failing key."""
    for section, entry_type in _SECTIONS.items():
        entries = raw.get(section)
        if not isinstance(entries, dict):
            continue
        for name, value in entries.items():
            try:
                msgspec.convert(value, entry_type, strict=True)
            except msgspec.ValidationError as exc:
                path, _, text = _describe(str(exc)).partition(": ")
                full = f"{section}.{name}" if path == "(top level)" else f"{section}.{name}.{path}"
                return f"{full}: {text}"
    return None


def _describe(message: str) -> str:
    """Turn msgspec's 'Expected `int`, got `str` - at `$.models[x].context`' into key-path first."""
    what, where = located(message)
    key_path = re.sub(r"\[([^\]\d][^\]]*)\]", r".\1", where or "")
    return f"{key_path or '(top level)'}: {what}"


def _check_references(config: Config, source: str) -> None:
    def fail(path: str, what: str) -> None:
        raise ConfigError(f"{source}: {path}: {what}")

    if not config.tiers:
        fail("tiers", "at least one tier is required")
    for name, tier in config.tiers.items():
        if tier.rpm <= 0:
            fail(f"tiers.{name}.rpm", "must be positive")
        if tier.burst_rpm is not None and tier.burst_rpm < tier.rpm:
            fail(f"tiers.{name}.burst_rpm", "must be at least rpm")
        for field in ("tpm", "max_concurrent"):
            if getattr(tier, field) is not None and getattr(tier, field) <= 0:
                fail(f"tiers.{name}.{field}", "must be positive (leave it out to turn the limit off)")
        if tier.max_n < 1:
            fail(f"tiers.{name}.max_n", "must be at least 1")
        for model_id in tier.smart_route or []:
            if model_id not in config.models:
                fail(f"tiers.{name}.smart_route", f"unknown model {model_id!r}")
    for name, provider in config.providers.items():
        if provider.kind == "openai" and not provider.base_url:
            fail(f"providers.{name}.base_url", "required for kind openai")
        if provider.price_refresh_s <= 0:
            fail(f"providers.{name}.price_refresh_s", "must be positive")
    for model_id, model in config.models.items():
        _check_model(config, model_id, model, fail)


def _check_model(config: Config, model_id: str, model: ModelConfig, fail: Callable[[str, str], None]) -> None:
    at = f"models.{model_id}"
    if model.tier not in config.tiers:
        fail(f"{at}.tier", f"unknown tier {model.tier!r} (tiers: {', '.join(config.tiers)})")
    if model_id == "smart-route":
        fail(at, "'smart-route' is reserved")
    if model.context <= 0 or model.max_output <= 0:
        fail(at, "context and max_output must be positive")
    wildcard = model_id.endswith("/*")
    if model.price == "upstream" and not wildcard:
        fail(f"{at}.price", "'upstream' pricing is only for wildcard routes such as openrouter/*")
    if wildcard and not model.provider:
        fail(f"{at}.provider", "a wildcard route needs a provider")
    if model.price == "upstream" and model.provider and config.providers.get(model.provider) is not None \
            and config.providers[model.provider].kind != "openai":
        fail(f"{at}.price", "'upstream' pricing reads an OpenAI-compatible GET /models (kind openai)")
    if not wildcard and not model.deployments and not model.provider:
        fail(f"{at}.deployments", "a model needs at least one deployment (or a provider)")
    for i, dep in enumerate(model.deployments):
        if dep.provider not in config.providers:
            fail(f"{at}.deployments[{i}].provider", f"unknown provider {dep.provider!r}")
        if dep.weight <= 0:
            fail(f"{at}.deployments[{i}].weight", "must be positive")
    if model.provider and model.provider not in config.providers:
        fail(f"{at}.provider", f"unknown provider {model.provider!r}")
    for i, param in enumerate(model.allow_params):
        cache_writes = model.price == "upstream" or getattr(model.price, "cache_write", None) is not None
        problem = allow_params_problem(param, cache_writes)
        if problem:
            fail(f"{at}.allow_params[{i}]", problem)


def deployments_of(model: ModelConfig, model_id: str) -> list[Deployment]:
    """A model's deployments, with the `provider:` shorthand expanded to one deployment."""
    if model.deployments:
        return list(model.deployments)
    if model.provider:
        return [Deployment(provider=model.provider, model=model_id)]
    return []
