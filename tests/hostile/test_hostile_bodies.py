"""Hand-made hostile bodies on every route that reads one: JSON that is no object, numbers out of
every range, nesting at and past the depth limit, bad UTF-8, lone surrogates, null bytes,
duplicate keys, and each top-level field of the chat request in every wrong JSON type. Each
answer is under 500 and, when an error, OpenAI's envelope; none hangs."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest

from tests.fakes.fake_openai import FakeOpenAI
from tests.hostile.chat_spec import chat_spec
from tests.hostile.conftest import ADMIN_KEY
from tests.hostile.wire import send
from tests.support.gateway import Gateway

CHAT = b'{"model": "coder", "messages": [{"role": "user", "content": "hi"}]'  # without its closing brace
BIG_INT = "9" * 400  # msgspec decodes this to a Python int: every integer field must bound it

NOT_OBJECTS = [b"[]", b'"text"', b"1", b"null", b"true", b"[{}]", b"", b"   ", b"\xef\xbb\xbf{}", b"{} x",
               b"{}\x00", b"{", b"}"]
NUMBERS = [
    *(f', "{field}": {value}}}'.encode() for field in ("temperature", "top_p", "presence_penalty", "max_tokens",
                                                          "max_completion_tokens", "n", "seed", "top_logprobs")
      for value in ("1e400", "-1e400", BIG_INT, f"-{BIG_INT}", "-0", "-0.0", '"NaN"', "NaN", "Infinity",
                    "18446744073709551616", "1e-400", "0.1e1")),
    b', "logit_bias": {"1": 1e400}}', f', "logit_bias": {{"{BIG_INT}": 1}}}}'.encode(),
    b', "stream_options": {"include_usage": 1e400}, "stream": true}',
]
STRINGS = [
    b', "user": "\xff\xfe"}', b', "user": "\xc0\xaf"}', b', "user": "\xe2\x82"}',  # bad UTF-8
    b', "user": "\\ud800"}', b', "user": "\\udfff\\ud800"}', b', "\\ud800": 1}',  # lone surrogates
    b', "extra": ["\\ud83d"]}', b', "stop": ["\\ud800"]}', b', "metadata": {"k": "\\udc00"}}',
    b', "user": "a\x00b"}', b', "user": "a\\u0000b"}', b', "stop": "\\u0000"}', b', "\\u0000": 1}',
    b', "user": "\x01\x1f"}', b', "user": "\\u202e\\u200b"}',
    b', "model": "nope"}', b', "messages": 5}', b', "stream": "yes", "stream": true}',  # duplicate keys
]
MESSAGES = [
    b'{"model": "coder", "messages": [{"role": "user", "content": "\\ud800"}]}',
    b'{"model": "coder", "messages": [{"role": "user", "content": [{"type": "text", "text": "\\udfff"}]}]}',
    b'{"model": "coder", "messages": [{"role": "user", "content": "a\\u0000b", "name": "\\ud800"}]}',
    b'{"model": "\\ud800", "messages": [{"role": "user", "content": "hi"}]}',
    b'{"model": "co\\u0000der", "messages": [{"role": "user", "content": "hi"}]}',
    b'{"model": "coder", "messages": [{"role": "\\ud800", "content": "hi"}]}',
    b'{"model": "coder", "messages": [{"role": "user", "content": "hi"}], "tools": [{"type": "function", '
    b'"function": {"name": "\\ud800", "parameters": {"type": "object"}}}]}',
    b'{"model": "coder", "messages": [{"role": "user", "content": "hi"}], "tool_choice": {"type": "function", '
    b'"function": {"name": "\\udfff"}}}',
]
WRONG_TYPES: list[object] = [None, 0, -1, 1.5, "x", "", [], [None], {}, {"": None}, True]


def nested(depth: int, inner: bytes = b"1") -> bytes:
    """A chat body with an unknown field nested `depth` levels (the body itself is one more)."""
    return CHAT + b', "x": ' + b"[" * depth + inner + b"]" * depth + b"}"


def faults(gateway: Gateway, method: str, path: str, token: str, bodies: list[bytes]) -> list[str]:
    found = []
    for body in bodies:
        answer = send(gateway, method, path, {"Authorization": f"Bearer {token}",
                                              "Content-Type": "application/json"}, body)
        if problem := answer.fault():
            found.append(f"{method} {path} {body[:120]!r}: {problem}")
    return found


def test_chat_bodies_that_are_no_request(gateway: Gateway, key: str) -> None:
    bodies = [*NOT_OBJECTS, *(CHAT + tail for tail in NUMBERS + STRINGS), *MESSAGES]
    assert faults(gateway, "POST", "/v1/chat/completions", key, bodies) == []


def test_nesting_at_and_past_the_depth_limit(gateway: Gateway, key: str) -> None:
    limit = gateway.config.limits.max_json_depth
    path = "/v1/chat/completions"
    bodies = [nested(d) for d in (limit - 2, limit - 1, limit, limit + 1, 10_000, 200_000)]
    bodies += [nested(limit - 1, b"{}"), nested(limit, b'{"a": {}}'), CHAT + b', "x": ' + b'{"a":' * 5000]
    assert faults(gateway, "POST", path, key, bodies) == []
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    under, over = (send(gateway, "POST", path, headers, nested(depth)) for depth in (limit - 2, limit + 1))
    assert under.status == 200, under.body
    assert over.status == 400 and b"nests deeper" in over.body, over.body


def test_every_top_level_field_in_every_wrong_type(gateway: Gateway, key: str) -> None:
    fields = sorted(chat_spec()["components"]["schemas"]["CreateChatCompletionRequest"]["allOf"][1]["properties"])
    base = json.loads(CHAT + b"}")
    bodies = [json.dumps({**base, field: value}).encode() for field in [*fields, "model", "messages"]
              for value in WRONG_TYPES]
    assert len(fields) > 20, fields
    assert faults(gateway, "POST", "/v1/chat/completions", key, bodies) == []


ADMIN_BODIES = [
    *NOT_OBJECTS,
    b'{"name": "\\ud800", "tier": "pro"}', b'{"name": "a\\u0000b", "tier": "pro"}', b'{"name": "\xff", "tier": "pro"}',
    b'{"name": "n", "tier": "pro", "name": "m"}', b'{"name": 1e400, "tier": "pro"}', f'{{"name": {BIG_INT}}}'.encode(),
    b'{"account": "mallory", "amount_usd": 1e400, "note": "x"}', b'{"account": "mallory", "amount_usd": "NaN"}',
    b'{"account": "mallory", "amount_usd": "Infinity"}', b'{"account": "mallory", "amount_usd": "-0"}',
    f'{{"account": "mallory", "amount_usd": {BIG_INT}}}'.encode(), b'{"account": "\\udfff", "amount_usd": "1"}',
    b'{"account": "mallory", "amount_usd": "1", "note": "\\ud800"}', b'{"account": ["mallory"], "amount_usd": {}}',
    b'{"model": "\\ud800", "messages": []}', b'{"model": "coder", "messages": [{"role": "user", "content": 1e400}]}',
    b'{"tier": "\\ud800"}', b'{"tier": null, "status": 1e400}',
    b'{"name": "k", "expires_at": ' + BIG_INT.encode() + b"}",
]


@pytest.mark.parametrize("method, path", [
    ("POST", "/admin/v1/accounts"), ("POST", "/admin/v1/credits"), ("POST", "/admin/v1/adjustments"),
    ("POST", "/admin/v1/route/explain"), ("PATCH", "/admin/v1/accounts/mallory"),
    ("POST", "/admin/v1/accounts/mallory/tier"), ("POST", "/admin/v1/accounts/mallory/keys"),
])
def test_admin_bodies_that_are_no_request(gateway: Gateway, key: str, method: str, path: str) -> None:
    assert faults(gateway, method, path, ADMIN_KEY, ADMIN_BODIES) == []
    assert gateway.check() and all(row["ok"] for row in gateway.check())


def test_unknown_field_names_never_break_or_bloat_the_answer(gateway: Gateway, key: str) -> None:
    """Fields that do not reach the upstream are named in x-farebox-dropped-params: a name the
    client chose must not put a control byte in a header (aiohttp would drop the connection) nor
    make the header as large as the body."""
    base = json.loads(CHAT + b"}")
    for extra in ({"a\r\nSet-Cookie: x": 1, "\u0017": 1, "é": 1, "ok_field": 1},
                  {f"field_{i}_{'x' * 100}": i for i in range(2000)}):
        answer = send(gateway, "POST", "/v1/chat/completions", {"Authorization": f"Bearer {key}",
                                                                "Content-Type": "application/json"},
                      json.dumps({**base, **extra}).encode())
        assert answer.status == 200, answer
        named = answer.headers.get("x-farebox-dropped-params", "")
        assert len(named) < 1000 and named.isprintable() and "set-cookie" not in answer.headers, named
    assert "ok_field" in send(gateway, "POST", "/v1/chat/completions", {
        "Authorization": f"Bearer {key}", "Content-Type": "application/json"},
        json.dumps({**base, "ok_field": 1}).encode()).headers["x-farebox-dropped-params"]


WILDCARD = """
providers:
  up: {kind: openai, base_url: "%s", api_key: k}
models:
  "up/*": {tier: pro, provider: up, price: {input: 1, output: 2}, context: 8000}
"""


@pytest.mark.parametrize("stream", [False, True])
def test_a_wildcard_model_name_with_control_bytes_is_400(fake_openai: FakeOpenAI, stream: bool,
                                                         make_gateway: Callable[[str], Gateway]) -> None:
    """A wildcard route keeps the client's suffix, and it goes back in x-farebox-model-used:
    a control byte there made aiohttp drop the connection (JSON) or answer 500 (stream), until
    wildcard suffixes were validated (routing/catalog.py check_wildcard_name)."""
    gateway = make_gateway(WILDCARD % fake_openai.base_url)
    key = gateway.account("mallory")
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    for model, status in (("up/plain", 200), ("up/é", 400), ("up/a\x17b", 400), ("up/a\r\nX-Evil: 1", 400)):
        body = {"model": model, "stream": stream, "messages": [{"role": "user", "content": "hi"}]}
        answer = send(gateway, "POST", "/v1/chat/completions", headers, json.dumps(body).encode())
        assert answer.status == status and answer.fault() is None, (model, answer)
        assert "x-evil" not in answer.headers
