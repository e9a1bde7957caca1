"""The provider seam: every kind's adapter has every verb of the Provider Protocol (so the
dispatcher needs no special case), features come from one vocabulary, the output limit and the
msgspec error path are each read in one place."""

from __future__ import annotations

import itertools

import msgspec
import pytest

from farebox.config import FEATURES, ConfigError, ProviderConfig, parse_config
from farebox.protocol.openai import RequestError, located, validate_chat_request
from farebox.providers.base import Provider, choices, output_limit
from farebox.providers.params import ALL_FEATURES, FEATURE_PARAM
from farebox.providers.registry import ADAPTERS, IN_PROCESS
from farebox.routing.needs import param_for, request_needs

CONFIGS = {"openai": ProviderConfig(kind="openai", base_url="http://10.0.0.5/v1"),
           "anthropic": ProviderConfig(kind="anthropic", api_key="k"),
           "gemini": ProviderConfig(kind="gemini", api_key="k"),
           "noop": ProviderConfig(kind="noop")}
VERBS = [name for name in vars(Provider) if not name.startswith("_")] + list(Provider.__annotations__)


@pytest.mark.parametrize("kind", sorted(ADAPTERS))
def test_every_adapter_has_every_verb(kind: str) -> None:
    adapter = ADAPTERS[kind]("up", CONFIGS[kind])
    missing = [verb for verb in VERBS if not hasattr(adapter, verb)]
    assert not missing, missing
    assert adapter.supported_features <= frozenset(FEATURE_PARAM)  # one vocabulary
    request = adapter.get_request("/models")  # a GET with the adapter's own auth, no body
    assert request.body == b"" and not any(k.lower() == "content-type" for k in request.headers)


def test_noop_is_answered_in_process_and_nothing_else_is() -> None:
    assert set(IN_PROCESS) == {"noop"}
    assert ADAPTERS["noop"] is ADAPTERS["openai"]


def test_one_feature_vocabulary() -> None:
    assert frozenset(FEATURES) == ALL_FEATURES  # config's Literal and the providers' table agree
    assert param_for("json_schema") == "response_format" and param_for("n") == "n"


@pytest.mark.parametrize(("max_tokens", "max_completion_tokens", "n"),
                         list(itertools.product([None, 1, 500, 4096, 10_000], [None, 7, 5000], [None, 1, 3])))
def test_the_hold_and_the_adapters_read_the_output_limit_alike(max_tokens: int | None,
                                                               max_completion_tokens: int | None,
                                                               n: int | None) -> None:
    body: dict[str, object] = {"messages": [{"role": "user", "content": "hi"}]}
    for name, value in (("max_tokens", max_tokens), ("max_completion_tokens", max_completion_tokens), ("n", n)):
        if value is not None:
            body[name] = value
    needs = request_needs(body)
    for max_output in (1, 4096, 8192):
        assert needs.output_for(max_output) == output_limit(body, max_output) * choices(body)


def test_one_reading_of_msgspec_error_paths() -> None:
    assert located("Expected `int`, got `str` - at `$.models[x].context`") == \
        ("Expected int, got str", "models[x].context")
    assert located("Object missing required field `kind`") == ("Object missing required field kind", None)
    with pytest.raises(RequestError) as request_error:
        validate_chat_request({"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": "2"})
    assert (request_error.value.param, str(request_error.value)) == \
        ("n", "Invalid value for 'n': Expected int | null, got str.")
    with pytest.raises(ConfigError, match=r"test: listen\.port: Expected int, got str"):
        parse_config("tiers: {t: {rank: 1, rpm: 1}}\nlisten: {port: x}\n", "test")
    with pytest.raises(msgspec.ValidationError) as raw:
        msgspec.convert({"a": 1}, list[int])
    assert located(str(raw.value))[1] is None  # no place named: the message as it is
