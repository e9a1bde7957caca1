"""A catalogue of ten models with different prices, contexts, tiers and features, shared by the
smart-route and metadata tests. `catalogue_yaml(base_url)` points every deployment at one
OpenAI-compatible upstream; the upstream model name is `up-<model id>`."""

from __future__ import annotations

MODELS = """
models:
  tiny-8b:      # the cheapest, and good for nothing but short plain text
    tier: starter
    context: 8192
    max_output: 2048
    price: {input: 0.05, output: 0.08}
    deployments: [{provider: up, model: up-tiny-8b}]
  vision-lite:
    tier: starter
    context: 32768
    price: {input: 0.10, output: 0.40}
    features: [vision, json_object]
    modalities: {input: [text], output: [text]}
    deployments: [{provider: up, model: up-vision-lite}]
  coder-32b:
    tier: starter
    context: 16384
    price: {input: 0.20, output: 0.60, cached_input: 0.05}
    features: [tools, json_object, json_schema, logprobs]
    deployments: [{provider: up, model: up-coder-32b}]
  mid-chat:
    tier: starter
    context: 65536
    max_output: 8192
    price: {input: 0.27, output: 1.10, cached_input: 0.07}
    features: [tools, json_object]
    deployments: [{provider: up, model: up-mid-chat}]
  fast-a:
    tier: pro
    context: 32768
    price: {input: 0.15, output: 0.60}
    features: [tools]
    deployments: [{provider: up, model: up-fast-a}]
  fast-b:       # the same price as fast-a: latency breaks the tie
    tier: pro
    context: 32768
    price: {input: 0.15, output: 0.60}
    features: [tools]
    deployments: [{provider: up, model: up-fast-b}]
  reasoner:
    tier: pro
    context: 65536
    max_output: 16384
    price: {input: 0.55, output: 2.19, cached_input: 0.14}
    features: [reasoning, json_object]
    deployments: [{provider: up, model: up-reasoner}]
  long-ctx:     # cheap input, dear output: wins long prompts, loses long answers
    tier: pro
    context: 1048576
    max_output: 8192
    price: {input: 0.30, output: 2.50, cached_input: 0.075}
    features: [tools, vision, json_object, json_schema, reasoning]
    description: Long-context multimodal model.
    deployments: [{provider: up, model: up-long-ctx}]
  frontier:
    tier: elite
    context: 200000
    max_output: 32000
    price: {input: 3, output: 15, cached_input: 0.30, cache_write: 3.75}
    features: [tools, tool_choice, json_object, json_schema, vision, logprobs, reasoning, prompt_cache]
    deployments: [{provider: up, model: up-frontier}]
  vip-only:     # in no smart-route pool of the elite tier
    tier: elite
    context: 8192
    price: {input: 0.01, output: 0.01}
    deployments: [{provider: up, model: up-vip-only}]
  "openrouter/*": {tier: pro, provider: up, price: upstream, context: 131072, features: [tools]}
"""

TIERS = """
tiers:
  starter: {rank: 1, rpm: 6000, burst_rpm: 12000}
  pro:     {rank: 2, rpm: 6000, burst_rpm: 12000}
  elite:   {rank: 3, rpm: 6000, burst_rpm: 12000, smart_route: [reasoner, long-ctx, frontier]}
"""


def catalogue_yaml(base_url: str = "http://127.0.0.1:9/v1") -> str:
    return f'providers:\n  up: {{kind: openai, base_url: "{base_url}"}}\n' + MODELS + TIERS
