"""Slow and greedy clients, hung upstreams: a connection dribbling its headers is cut off at the
header timeout, connections over the per-address cap are answered 503 and closed, and a hung
non-streaming upstream holds a request (and its credit hold) no longer than `total_json`."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Callable

import pytest

from tests.fakes.fake_openai import FakeOpenAI, Script
from tests.support import http
from tests.support.gateway import Gateway

CONFIG = """
server: {header_timeout: 1, keepalive_timeout: 1, max_connections: 50, max_connections_per_address: 4}
providers:
  up: {kind: openai, base_url: "%s", api_key: k, timeouts: {total_json: 1.5}}
models:
  coder:
    tier: starter
    context: 16384
    max_output: 1000
    price: {input: 1, output: 2}
    deployments: [{provider: up, model: upstream-coder}]
"""
BODY = {"model": "coder", "messages": [{"role": "user", "content": "hi"}], "max_tokens": 10}


@pytest.fixture
def gateway(fake_openai: FakeOpenAI, make_gateway: Callable[[str], Gateway]) -> Gateway:
    return make_gateway(CONFIG % fake_openai.base_url)


def connect(gateway: Gateway) -> socket.socket:
    host, port = gateway.server.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def post_chat(gateway: Gateway, key: str) -> http.Reply:
    return http.post(f"{gateway.base_url}/chat/completions", json_body=BODY, headers={"Authorization": f"Bearer {key}"})


def read_all(sock: socket.socket) -> bytes:
    data = b""
    try:
        while chunk := sock.recv(65536):
            data += chunk
    except (ConnectionResetError, TimeoutError):
        pass
    return data


def test_dribbled_headers_are_cut_off_at_the_header_timeout(gateway: Gateway) -> None:
    sock = connect(gateway)
    started = time.monotonic()
    sock.sendall(b"POST /v1/chat/completions HTTP/1.1\r\nHost: x\r\n")
    closed_after = None
    for _ in range(40):  # one more header line every 0.25 s, never the blank line
        try:
            sock.sendall(b"X-Slow: 1\r\n")
        except OSError:
            closed_after = time.monotonic() - started
            break
        sock.settimeout(0.25)
        try:
            if sock.recv(1) == b"":
                closed_after = time.monotonic() - started
                break
        except TimeoutError:
            pass
    sock.close()
    assert closed_after is not None and closed_after < 5, closed_after


def test_connections_over_the_per_address_cap_get_503(gateway: Gateway) -> None:
    held = [connect(gateway) for _ in range(4)]
    try:
        time.sleep(0.1)
        extra = connect(gateway)
        answer = read_all(extra)
        extra.close()
        assert answer.startswith(b"HTTP/1.1 503"), answer
        body = json.loads(answer.partition(b"\r\n\r\n")[2])
        assert body["error"]["code"] == "service_unavailable"
    finally:
        for sock in held:
            sock.close()
    time.sleep(0.2)  # closed connections are counted out: the next client is served
    key = gateway.account("alice")
    reply = post_chat(gateway, key)
    assert reply.status_code == 200, reply.text


def test_hung_non_streaming_upstream_is_given_up_on_and_the_hold_released(gateway: Gateway,
                                                                          fake_openai: FakeOpenAI) -> None:
    key = gateway.account("alice", usd="1")
    fake_openai.default = Script(hang=20)
    started = time.monotonic()
    reply = post_chat(gateway, key)
    assert time.monotonic() - started < 10
    assert reply.status_code in (502, 503, 504), reply.text
    account_id = int(gateway.run(gateway.runtime.operator.account("alice"))["id"])
    assert gateway.run(gateway.runtime.held(account_id)) == 0
    assert gateway.charges("alice") == []
