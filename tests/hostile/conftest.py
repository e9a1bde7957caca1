"""One gateway shape for the hostile suite: a model with every feature a generated body may ask
for, a fake upstream, and short client timeouts so a stalled request is answered within seconds."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from tests.fakes.fake_openai import FakeOpenAI
from tests.support.gateway import Gateway

CLIENT_TIMEOUT = 2.0  # seconds a request's headers or body may take to arrive
CONFIG = f"""
limits: {{client_timeout: {CLIENT_TIMEOUT}}}
server: {{header_timeout: {CLIENT_TIMEOUT}, keepalive_timeout: {CLIENT_TIMEOUT}}}
providers:
  up: {{kind: openai, base_url: "%s", api_key: upstream-secret}}
models:
  coder:
    tier: starter
    context: 16384
    max_output: 2048
    price: {{input: 0.20, output: 0.60}}
    features: [tools, json_object, json_schema, logprobs]
    deployments: [{{provider: up, model: upstream-coder}}]
  "up/*": {{tier: starter, provider: up, price: {{input: 1, output: 2}}, context: 8000}}
"""
ADMIN_KEY = "admin-test-key"  # what tests.support.gateway.Gateway gives the admin API


@pytest.fixture
def gateway(fake_openai: FakeOpenAI, make_gateway: Callable[[str], Gateway]) -> Gateway:
    return make_gateway(CONFIG % fake_openai.base_url)


@pytest.fixture
def key(gateway: Gateway) -> str:
    return gateway.account("mallory", usd="1000")
