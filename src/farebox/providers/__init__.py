"""Upstream adapters: one per wire format (OpenAI-compatible, Anthropic, Gemini) plus noop."""
