"""Hostile bytes at the edges: undecodable bodies, bytes that are no key, oversized strings,
amounts out of range, upstream error texts that name the operator's hosts. Every answer is a 4xx
in the envelope; nothing is echoed back at length; no version banner."""

from __future__ import annotations

import gzip
import json
import socket
import stat
import zlib
from collections.abc import Callable
from pathlib import Path

import pytest

from farebox.storage.db import migrate
from tests.fakes.fake_openai import FakeOpenAI, Script
from tests.support import http
from tests.support.gateway import Gateway

CONFIG = """
providers:
  up: {kind: openai, base_url: "%s", api_key: upstream-secret}
models:
  coder:
    tier: starter
    context: 16384
    max_output: 2048
    price: {input: 0.20, output: 0.60}
    deployments: [{provider: up, model: upstream-coder}]
  wide:
    tier: starter
    context: 1000000
    max_output: 2048
    price: {input: 0.20, output: 0.60}
    deployments: [{provider: up, model: upstream-wide}]
"""
BODY = {"model": "coder", "messages": [{"role": "user", "content": "hi"}]}


@pytest.fixture
def gateway(fake_openai: FakeOpenAI, make_gateway: Callable[[str], Gateway]) -> Gateway:
    return make_gateway(CONFIG % fake_openai.base_url)


def raw_http(gateway: Gateway, head: bytes, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """One request written byte for byte (what urllib would refuse to send), its parsed answer."""
    host, port = gateway.server.url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as sock:
        sock.sendall(head + b"Connection: close\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    header_block, _, content = data.partition(b"\r\n\r\n")
    lines = header_block.decode("latin-1").split("\r\n")
    headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    return int(lines[0].split()[1]), headers, content


def post_chat(gateway: Gateway, key: str, content: bytes, **headers: str) -> http.Reply:
    return http.post(f"{gateway.base_url}/chat/completions", content=content,
                     headers={"Authorization": f"Bearer {key}", "Content-Type": "application/json", **headers})


def assert_envelope(reply: http.Reply, status: int, code: str) -> dict[str, object]:
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert error["code"] == code, error
    assert set(error) == {"message", "type", "param", "code"}
    return dict(error)


@pytest.mark.parametrize("encoding, content", [
    ("gzip", json.dumps(BODY).encode()),  # says gzip, is not
    ("gzip", gzip.compress(json.dumps(BODY).encode())[:20]),  # truncated gzip
    ("deflate", b"\x00\x01garbage"),
])
def test_undecodable_bodies_are_400(gateway: Gateway, encoding: str, content: bytes) -> None:
    key = gateway.account("alice")
    assert_envelope(post_chat(gateway, key, content, **{"Content-Encoding": encoding}), 400,
                    "invalid_request_error")


def test_good_compression_is_read_and_unknown_encodings_are_415(gateway: Gateway) -> None:
    key = gateway.account("alice")
    ok = post_chat(gateway, key, gzip.compress(json.dumps(BODY).encode()), **{"Content-Encoding": "gzip"})
    assert ok.status_code == 200, ok.text
    deflated = post_chat(gateway, key, zlib.compress(json.dumps(BODY).encode()), **{"Content-Encoding": "deflate"})
    assert deflated.status_code == 200, deflated.text
    assert_envelope(post_chat(gateway, key, b"{}", **{"Content-Encoding": "snappy"}), 415, "unsupported_media_type")


@pytest.mark.parametrize("path, method", [("/v1/chat/completions", b"POST"), ("/admin/v1/accounts", b"GET")])
def test_non_ascii_authorization_is_a_plain_401(gateway: Gateway, path: str, method: bytes) -> None:
    body = json.dumps(BODY).encode() if method == b"POST" else b""
    status, headers, content = raw_http(
        gateway, method + b" " + path.encode() + b" HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer sk-\xff\xfe"
        + b"\r\nContent-Type: application/json\r\n", body)
    assert status == 401
    assert headers["content-type"].startswith("application/json")
    assert json.loads(content)["error"]["code"] == "invalid_api_key"


def test_long_model_name_is_refused_without_echo(gateway: Gateway) -> None:
    key = gateway.account("alice")
    reply = post_chat(gateway, key, json.dumps({**BODY, "model": "m" * 2_000_000}).encode())
    error = assert_envelope(reply, 400, "invalid_request_error")
    assert error["param"] == "model"
    assert len(reply.content) < 1000
    # Under the cap but unknown: the 404 repeats at most ~200 characters of it.
    reply = post_chat(gateway, key, json.dumps({**BODY, "model": "n" * 250}).encode())
    assert_envelope(reply, 404, "model_not_found")
    assert "n" * 201 not in reply.text


def test_a_key_that_is_not_a_customer_key_is_never_echoed(gateway: Gateway) -> None:
    for token in ("admin-test-key-that-is-long", "fbadmin-0123456789abcdefghij", "sk-short-but-secret-123"):
        reply = post_chat(gateway, token, json.dumps(BODY).encode())
        error = assert_envelope(reply, 401, "invalid_api_key")
        assert token[:6] not in str(error["message"]) and token[-4:] not in str(error["message"])


def test_no_version_banner(gateway: Gateway) -> None:
    key = gateway.account("alice")
    for reply in (post_chat(gateway, key, json.dumps(BODY).encode()), http.get(f"{gateway.server.url}/health"),
                  http.get(f"{gateway.server.url}/nowhere")):
        assert reply.headers.get("server") == "farebox"
    streamed = post_chat(gateway, key, json.dumps({**BODY, "stream": True}).encode())
    assert streamed.status_code == 200 and streamed.headers.get("server") == "farebox"


def test_upstream_error_text_loses_hosts_and_paths(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    key = gateway.account("alice")
    fake_openai.default = Script(status=400, error_body={"error": {
        "message": "Invalid 'temperature' at http://10.1.2.3:8000/v1/chat (worker gpu-7.internal:9000, "
                   "config /srv/vllm/conf/model.yaml)", "type": "invalid_request_error"}})
    reply = post_chat(gateway, key, json.dumps(BODY).encode())
    error = assert_envelope(reply, 400, "invalid_request_error")
    message = str(error["message"])
    assert "Invalid 'temperature'" in message
    for leaked in ("10.1.2.3", "gpu-7", "/srv/vllm", "8000"):
        assert leaked not in message


@pytest.mark.parametrize("amount", ["1e30", "1000000.01", "-1e30", 1e30])
def test_admin_amounts_out_of_range_are_400(gateway: Gateway, amount: object) -> None:
    gateway.account("alice")
    reply = http.post(f"{gateway.server.url}/admin/v1/credits", headers={"Authorization": "Bearer admin-test-key"},
                      json_body={"account": "alice", "amount_usd": amount, "note": "x"})
    assert_envelope(reply, 400, "invalid_request_error")
    assert gateway.check() and all(row["ok"] for row in gateway.check())


def test_admin_bad_gzip_is_400(gateway: Gateway) -> None:
    reply = http.post(f"{gateway.server.url}/admin/v1/accounts", content=b"not gzip",
                      headers={"Authorization": "Bearer admin-test-key", "Content-Type": "application/json",
                               "Content-Encoding": "gzip"})
    assert_envelope(reply, 400, "invalid_request_error")


def test_sqlite_file_is_private(tmp_path: Path) -> None:
    path = tmp_path / "sub" / "farebox.db"
    migrate(f"sqlite:///{path}")
    for made in [path, *tmp_path.glob("sub/farebox.db-*")]:
        assert stat.S_IMODE(made.stat().st_mode) & 0o077 == 0, made


def test_failed_admin_authentication_is_throttled(gateway: Gateway) -> None:
    url = f"{gateway.server.url}/admin/v1/accounts"
    statuses = [http.get(url, headers={"Authorization": f"Bearer guess-{i}"}).status_code for i in range(12)]
    assert statuses[:10] == [401] * 10
    throttled = http.get(url, headers={"Authorization": "Bearer admin-test-key"})
    assert throttled.status_code == 429 and int(throttled.headers["retry-after"]) >= 1


def test_message_and_part_counts_are_capped_before_any_walk(gateway: Gateway) -> None:
    key = gateway.account("alice")
    many = {"model": "coder", "messages": [{"role": "user", "content": "w"}] * 2049}
    error = assert_envelope(post_chat(gateway, key, json.dumps(many).encode()), 400, "invalid_request_error")
    assert error["param"] == "messages" and "2048" in str(error["message"])
    parts = {"model": "coder", "messages": [{"role": "user", "content": [{"type": "text", "text": "w"}] * 3000}] * 2}
    error = assert_envelope(post_chat(gateway, key, json.dumps(parts).encode()), 400, "invalid_request_error")
    assert error["param"] == "messages" and "4096" in str(error["message"])


VISION_CONFIG = CONFIG + """
  seer:
    tier: starter
    context: 100000
    price: {input: 1, output: 2}
    features: [vision]
    max_body_bytes: 8000000
    deployments: [{provider: up, model: upstream-seer}]
"""


def test_the_default_body_limit_is_4_mib_and_a_vision_model_may_raise_it(
        fake_openai: FakeOpenAI, make_gateway: Callable[[str], Gateway]) -> None:
    gateway = make_gateway(VISION_CONFIG % fake_openai.base_url)
    key = gateway.account("alice")
    image = "data:image/png;base64," + "A" * 5_000_000
    body = {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": {"url": image}}]}]}
    assert_envelope(post_chat(gateway, key, json.dumps({**body, "model": "coder"}).encode()), 413, "request_too_large")
    reply = post_chat(gateway, key, json.dumps({**body, "model": "seer"}).encode())
    assert reply.status_code == 200, reply.text
    assert fake_openai.requests[-1]["model"] == "upstream-seer"
    assert_envelope(post_chat(gateway, key, json.dumps({**body, "model": "seer", "pad": "x" * 4_000_000}).encode()),
                    413, "request_too_large")


def test_large_bodies_parsed_off_the_loop_answer_like_small_ones(gateway: Gateway, fake_openai: FakeOpenAI) -> None:
    key = gateway.account("alice")
    text = "word " * 70_000  # ~350 KB: over the off-loop threshold
    wide = {**BODY, "model": "wide", "messages": [{"role": "user", "content": text}]}
    reply = post_chat(gateway, key, json.dumps(wide).encode())
    assert reply.status_code == 200, reply.text
    assert fake_openai.requests[-1]["messages"][0]["content"] == text
    bad = {**BODY, "messages": [{"role": "user", "content": text}], "temperature": "hot"}
    error = assert_envelope(post_chat(gateway, key, json.dumps(bad).encode()), 400, "invalid_request_error")
    assert error["param"] == "temperature"
    too_long = {**BODY, "messages": [{"role": "user", "content": text}]}  # past coder's 16k context
    assert_envelope(post_chat(gateway, key, json.dumps(too_long).encode()), 400, "context_length_exceeded")
