"""Edge cases and structure of the token estimates (accuracy: test_tokens_corpus.py)."""

from __future__ import annotations

from typing import Any

import pytest

from farebox.routing.needs import request_needs
from farebox.tokens import CL100K, O200K, estimate_prompt_tokens, estimate_text_tokens, profile_for_model, text_tokens
from farebox.tokens import prompt as tokens
from farebox.tokens.estimate import SAMPLE_ABOVE, features

PROSE = "The quick brown fox jumps over the lazy dog, then naps in the sun. "


def user(content: Any) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": content}]}


def test_empty_and_whitespace() -> None:
    assert estimate_text_tokens("") == 0
    for text in (" ", "\n", "\t\t", "   \n\n  ", "\u3000"):
        assert estimate_text_tokens(text) >= 1


@pytest.mark.parametrize(
    "text",
    ["😀", "👩‍👩‍👧‍👦 family", "\ud800 lone surrogate", "\x00\x01 control", "é" * 50, "𠀋𡈽", "a" * 5000],
)
def test_unusual_text_is_estimated(text: str) -> None:
    assert estimate_text_tokens(text) >= 1


def test_features_split_utf8_lengths() -> None:
    # letters, digit runs, punct, punct runs, spaces, newlines, 2-, 3-, 4-byte characters
    assert features("ab 12.5\n") == (2, 2, 1, 1, 1, 1, 0, 0, 0)
    assert features("é中😀") == (0, 0, 0, 0, 0, 0, 1, 1, 1)


def test_emoji_cost_more_than_letters() -> None:
    assert estimate_text_tokens("😀" * 20) > estimate_text_tokens("a" * 20)


@pytest.mark.parametrize("unit", [PROSE, "def f(x):\n    return x + 1\n", "中文测试，", '{"a": [1, 2]}'])
def test_monotonic_in_repetition(unit: str) -> None:
    previous = 0
    for n in (1, 2, 5, 10, 50, 200):
        estimate = estimate_text_tokens(unit * n)
        assert estimate >= previous
        previous = estimate


def test_sampled_long_text_scales_with_length() -> None:
    text = PROSE * (SAMPLE_ABOVE // len(PROSE) + 1)
    exact = estimate_text_tokens(text[:SAMPLE_ABOVE])
    doubled = estimate_text_tokens(text + text)
    assert abs(doubled / (2 * len(text)) - exact / SAMPLE_ABOVE) * SAMPLE_ABOVE / exact < 0.02
    huge = estimate_text_tokens(PROSE * 200_000)  # 13 MB, estimated from samples
    assert huge == pytest.approx(exact * 200_000 * len(PROSE) / SAMPLE_ABOVE, rel=0.02)


def test_cjk_profiles_differ_where_tokenizers_do() -> None:
    text = "人工智能正在改变我们的生活方式。" * 10
    assert text_tokens(text, CL100K) > 1.3 * text_tokens(text, O200K)
    assert text_tokens(PROSE, CL100K) == pytest.approx(text_tokens(PROSE, O200K), rel=0.1)


def test_profile_for_model() -> None:
    assert profile_for_model("gpt-4o-mini") is O200K
    assert profile_for_model("openai/gpt-5") is O200K
    assert profile_for_model("Qwen2.5-72B-Instruct") is O200K
    assert profile_for_model("gpt-4-0613") is CL100K
    assert profile_for_model("claude-sonnet-4") is CL100K
    assert profile_for_model("claude-sonnet-4", default=O200K) is O200K
    assert profile_for_model("meta-llama/Llama-3.3-70B-Instruct", default=O200K) is CL100K


def test_the_requested_model_picks_the_profile() -> None:
    """Wired into routing: the same CJK prompt costs more on a cl100k-family model (its profile
    counts CJK higher), the same on a name of no known family as on an o200k one."""
    cjk = {"messages": [{"role": "user", "content": "東京の天気は晴れです。" * 200}]}
    on = {name: request_needs({**cjk, "model": name}).prompt_tokens
          for name in ("gpt-4o", "gpt-4-0613", "llama-3.3-70b", "coder", "smart-route")}
    assert on["gpt-4-0613"] == on["llama-3.3-70b"] > on["gpt-4o"] == on["coder"] == on["smart-route"]


def test_message_overhead_and_priming() -> None:
    assert estimate_prompt_tokens({"messages": []}) == tokens.REPLY_PRIMING
    one = estimate_prompt_tokens(user("hi"))
    assert one == tokens.REPLY_PRIMING + tokens.MESSAGE_OVERHEAD + 1
    named = {"messages": [{"role": "user", "name": "bob", "content": "hi"}]}
    assert estimate_prompt_tokens(named) == one + tokens.NAME_OVERHEAD + 1


def test_multipart_text_counts_like_string() -> None:
    parts = [{"type": "text", "text": PROSE}, {"type": "text", "text": PROSE}]
    assert estimate_prompt_tokens(user(parts)) == pytest.approx(
        estimate_prompt_tokens(user(PROSE * 2)), abs=2
    )


def test_images_by_detail() -> None:
    base = estimate_prompt_tokens(user([{"type": "text", "text": "what is this?"}]))

    def with_image(detail: str | None) -> int:
        image: dict[str, Any] = {"url": "data:image/png;base64," + "A" * 100_000}
        if detail:
            image["detail"] = detail
        parts = [{"type": "text", "text": "what is this?"}, {"type": "image_url", "image_url": image}]
        return estimate_prompt_tokens(user(parts))

    assert with_image("low") - base == tokens.IMAGE_LOW == 85
    assert with_image("high") - base == tokens.IMAGE_HIGH == 765
    assert with_image(None) - base == tokens.IMAGE_HIGH


def test_tool_calls_and_tool_messages_count() -> None:
    args = '{"location": "San Francisco, CA", "unit": "celsius"}'
    call = {"id": "call_1", "type": "function", "function": {"name": "get_weather", "arguments": args}}
    body = {
        "messages": [
            {"role": "user", "content": "weather?"},
            {"role": "assistant", "content": None, "tool_calls": [call]},
            {"role": "tool", "tool_call_id": "call_1", "content": '{"temp_c": 14, "sky": "fog"}'},
        ]
    }
    bare = {"messages": body["messages"][:1]}
    added = estimate_prompt_tokens(body) - estimate_prompt_tokens(bare)
    expected_min = estimate_text_tokens(args) + estimate_text_tokens('{"temp_c": 14, "sky": "fog"}')
    assert added >= expected_min + tokens.TOOL_CALL_OVERHEAD + 2 * tokens.MESSAGE_OVERHEAD


def test_tools_grow_with_parameters_and_enums() -> None:
    def tool(props: dict[str, Any]) -> dict[str, Any]:
        params = {"type": "object", "properties": props}
        return {"type": "function", "function": {"name": "f", "description": "Do it.", "parameters": params}}

    string = {"type": "string", "description": "A city name"}
    one = estimate_prompt_tokens({"messages": [], "tools": [tool({"a": string})]})
    two = estimate_prompt_tokens({"messages": [], "tools": [tool({"a": string, "b": string})]})
    enum = estimate_prompt_tokens(
        {"messages": [], "tools": [tool({"a": {**string, "enum": ["x", "y", "z"]}})]}
    )
    nested_prop = {"type": "object", "properties": {"inner": string}}
    nested = estimate_prompt_tokens({"messages": [], "tools": [tool({"a": nested_prop})]})
    assert one < two and one < enum and one < nested
    legacy = estimate_prompt_tokens({"messages": [], "functions": [tool({"a": string})["function"]]})
    assert legacy == one


def test_response_format_schema_counts() -> None:
    schema = {"type": "object", "properties": {"answer": {"type": "string"}}, "required": ["answer"]}
    plain = estimate_prompt_tokens(user("hi"))
    fmt = {"type": "json_schema", "json_schema": {"name": "a", "schema": schema}}
    assert estimate_prompt_tokens({**user("hi"), "response_format": fmt}) > plain + 10
    assert estimate_prompt_tokens({**user("hi"), "response_format": {"type": "json_object"}}) == plain


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"messages": None},
        {"messages": "hello"},
        {"messages": [None, 3, "x", [], {"content": 5}]},
        {"messages": [{"role": "user", "content": [None, 7, "raw", {"type": "text", "text": None}]}]},
        {"messages": [{"role": "user", "content": [{"type": "image_url", "image_url": "not-a-dict"}]}]},
        {
            "messages": [
                {"role": "assistant", "tool_calls": [None, {"function": "x"}, {"function": {"arguments": 3}}]}
            ]
        },
        {
            "tools": [
                None,
                {"function": None},
                {"function": {"parameters": {"properties": {"a": 1, "b": None}}}},
            ]
        },
        {
            "tools": [
                {
                    "function": {
                        "name": "f",
                        "parameters": {"properties": {"a": {"enum": [1, None, {"x": 1}]}}},
                    }
                }
            ]
        },
        {"tools": "nope", "functions": {"a": 1}, "response_format": {"json_schema": {"schema": {1, 2}}}},
    ],
)
def test_malformed_bodies_never_raise(body: dict[str, Any]) -> None:
    assert estimate_prompt_tokens(body) >= tokens.REPLY_PRIMING


def test_not_a_dict_body() -> None:
    assert estimate_prompt_tokens([]) == tokens.REPLY_PRIMING  # type: ignore[arg-type]


def test_deeply_nested_schema_is_bounded() -> None:
    schema: dict[str, Any] = {"type": "string", "description": "leaf"}
    for _ in range(200):
        schema = {"type": "object", "properties": {"x": schema}}
    tool = {"type": "function", "function": {"name": "f", "parameters": schema}}
    assert estimate_prompt_tokens({"messages": [], "tools": [tool]}) > 0


def test_prompt_budget_bounds_work_but_keeps_scale() -> None:
    message = {"role": "user", "content": PROSE * 500}  # 33 KB each
    small = estimate_prompt_tokens({"messages": [message] * 4})
    big = estimate_prompt_tokens({"messages": [message] * 400})  # 13 MB, mostly past the budget
    per_message = (small - tokens.REPLY_PRIMING) / 4
    assert (big - tokens.REPLY_PRIMING) / 400 == pytest.approx(per_message, rel=0.03)
