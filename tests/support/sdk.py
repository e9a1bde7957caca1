"""Typed helpers for tests that talk to farebox with the official openai SDK: its params are
TypedDicts, so requests are built from these rather than plain dicts, and the fields farebox adds
beyond the spec (credits_used_usd, model_used, reasoning_content) are read through `extras`."""

from __future__ import annotations

from typing import Any, cast

from openai import BaseModel
from openai.types.chat import (
    ChatCompletionAssistantMessageParam,
    ChatCompletionMessage,
    ChatCompletionMessageFunctionToolCall,
    ChatCompletionUserMessageParam,
)


def user(content: str) -> ChatCompletionUserMessageParam:
    return {"role": "user", "content": content}


def extras(model: BaseModel | None) -> dict[str, Any]:
    """The undeclared fields of an SDK object, asserting the object and its extras are there."""
    assert model is not None and model.model_extra is not None
    return model.model_extra


def function_calls(message: ChatCompletionMessage) -> list[ChatCompletionMessageFunctionToolCall]:
    """The message's tool calls, asserting there are some and all are function (not custom) calls."""
    assert message.tool_calls is not None
    calls = []
    for call in message.tool_calls:
        assert isinstance(call, ChatCompletionMessageFunctionToolCall), call
        calls.append(call)
    return calls


def echo(message: ChatCompletionMessage) -> ChatCompletionAssistantMessageParam:
    """A reply sent back as the next turn's assistant message, as OpenAI's docs do it: the SDK has
    no typed response-to-param conversion, and its dump has exactly the param's fields."""
    return cast(ChatCompletionAssistantMessageParam, message.model_dump(exclude_none=True))
