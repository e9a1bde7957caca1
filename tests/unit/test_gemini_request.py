"""OpenAI chat body -> Gemini generateContent request."""

from __future__ import annotations

import base64
import json

from farebox.providers.gemini.request import SKIP_SIGNATURE
from tests.support.gemini_adapter import KEY, payload, provider, target

USER = {"role": "user", "content": "Hi"}


def test_url_headers_and_no_key_in_url() -> None:
    p = provider()
    req = p.build_request({"messages": [USER]}, target(p), stream=False)
    assert (
        req.url == "https://generativelanguage.googleapis.com/v1beta/models/gemini-2.5-flash:generateContent"
    )
    assert req.headers["x-goog-api-key"] == KEY
    assert req.headers["content-type"] == "application/json"
    assert KEY not in req.url
    stream = p.build_request({"messages": [USER]}, target(p), stream=True)
    assert stream.url.endswith("/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse")


def test_base_url_model_prefix_and_extra_headers() -> None:
    p = provider("http://127.0.0.1:9999/", headers={"x-extra": "1"})
    req = p.build_request({"messages": [USER]}, target(p, "models/gemini-2.0-flash"), stream=False)
    assert req.url == "http://127.0.0.1:9999/v1beta/models/gemini-2.0-flash:generateContent"
    assert req.headers["x-extra"] == "1"
    tuned = p.build_request({"messages": [USER]}, target(p, "tunedModels/my-model"), stream=False)
    assert tuned.url == "http://127.0.0.1:9999/v1beta/tunedModels/my-model:generateContent"


def test_system_and_developer_go_to_system_instruction() -> None:
    out = payload(
        {
            "messages": [
                {"role": "system", "content": "Be brief."},
                {"role": "developer", "content": [{"type": "text", "text": "Answer in French."}]},
                USER,
            ]
        }
    )
    assert out["systemInstruction"] == {"parts": [{"text": "Be brief."}, {"text": "Answer in French."}]}
    assert out["contents"] == [{"role": "user", "parts": [{"text": "Hi"}]}]


def test_lone_system_prompt_becomes_the_user_turn() -> None:
    out = payload({"messages": [{"role": "system", "content": "Say hello."}]})
    assert out["contents"] == [{"role": "user", "parts": [{"text": "Say hello."}]}]
    assert "systemInstruction" not in out


def test_multi_turn_roles_and_merging() -> None:
    out = payload(
        {
            "messages": [
                {"role": "user", "content": "one"},
                {"role": "user", "content": "two"},
                {"role": "assistant", "content": "three"},
                {"role": "assistant", "content": None},  # empty turns are skipped
                {"role": "user", "content": "four"},
            ]
        }
    )
    assert out["contents"] == [
        {"role": "user", "parts": [{"text": "one"}, {"text": "two"}]},
        {"role": "model", "parts": [{"text": "three"}]},
        {"role": "user", "parts": [{"text": "four"}]},
    ]


def test_images_base64_and_url() -> None:
    png = base64.b64encode(b"\x89PNG fake").decode()
    out = payload(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in these?"},
                        {"type": "image_url", "image_url": {"url": f"data:image/png;base64,{png}"}},
                        {
                            "type": "image_url",
                            "image_url": {"url": "https://example.com/cat.webp?size=large", "detail": "low"},
                        },
                        {"type": "image_url", "image_url": {"url": "https://example.com/render"}},
                        {"type": "input_audio", "input_audio": {"data": "UklGRg==", "format": "wav"}},
                        {
                            "type": "file",
                            "file": {
                                "file_data": "data:application/pdf;base64,JVBERi0=",
                                "filename": "a.pdf",
                            },
                        },
                    ],
                }
            ]
        }
    )
    assert out["contents"][0]["parts"] == [
        {"text": "What is in these?"},
        {"inlineData": {"mimeType": "image/png", "data": png}},
        {"fileData": {"mimeType": "image/webp", "fileUri": "https://example.com/cat.webp?size=large"}},
        {"fileData": {"mimeType": "image/jpeg", "fileUri": "https://example.com/render"}},
        {"inlineData": {"mimeType": "audio/wav", "data": "UklGRg=="}},
        {"inlineData": {"mimeType": "application/pdf", "data": "JVBERi0="}},
    ]


def test_percent_encoded_data_url_is_base64_encoded() -> None:
    out = payload(
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "image_url", "image_url": {"url": "data:image/svg+xml,%3Csvg%2F%3E"}},
                    ],
                }
            ]
        }
    )
    part = out["contents"][0]["parts"][0]["inlineData"]
    assert part["mimeType"] == "image/svg+xml"
    assert base64.b64decode(part["data"]) == b"<svg/>"


WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_weather",
        "description": "Weather for a city",
        "strict": True,
        "parameters": {
            "$schema": "http://json-schema.org/draft-07/schema#",
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "location": {"type": "string"},
                "unit": {"type": ["string", "null"], "enum": ["c", "f"]},
            },
            "required": ["location", "unit"],
        },
    },
}


def test_tools_are_declared_with_clean_schemas() -> None:
    out = payload(
        {
            "messages": [USER],
            "tools": [
                WEATHER_TOOL,
                {
                    "type": "function",
                    "function": {"name": "now", "parameters": {"type": "object", "properties": {}}},
                },
            ],
        }
    )
    assert out["tools"] == [
        {
            "functionDeclarations": [
                {
                    "name": "get_weather",
                    "description": "Weather for a city",
                    "parameters": {
                        "type": "object",
                        "properties": {
                            "location": {"type": "string"},
                            "unit": {"type": "string", "nullable": True, "enum": ["c", "f"]},
                        },
                        "required": ["location", "unit"],
                    },
                },
                {"name": "now"},  # no parameters: Gemini rejects an OBJECT without properties
            ]
        }
    ]
    assert "toolConfig" not in out


def test_tool_choice_modes() -> None:
    def config(choice: object) -> object:
        return payload({"messages": [USER], "tools": [WEATHER_TOOL], "tool_choice": choice}).get("toolConfig")

    assert config("auto") == {"functionCallingConfig": {"mode": "AUTO"}}
    assert config("none") == {"functionCallingConfig": {"mode": "NONE"}}
    assert config("required") == {"functionCallingConfig": {"mode": "ANY"}}
    assert config({"type": "function", "function": {"name": "get_weather"}}) == {
        "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_weather"]}
    }
    # a tool_choice without tools is dropped
    assert "toolConfig" not in payload({"messages": [USER], "tool_choice": "required"})


def test_tool_calls_and_results_round_trip() -> None:
    out = payload(
        {
            "messages": [
                {"role": "user", "content": "Weather in Paris and Tokyo?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_a",
                            "type": "function",
                            "function": {"name": "get_weather", "arguments": '{"location": "Paris"}'},
                            "extra_content": {"google": {"thought_signature": "SIG"}},
                        },
                        {
                            "id": "call_b",
                            "type": "function",
                            "function": {"name": "get_time", "arguments": '{"tz": "Asia/Tokyo"}'},
                        },
                    ],
                },
                {"role": "tool", "tool_call_id": "call_a", "content": '{"temp_c": 18}'},
                {"role": "tool", "tool_call_id": "call_b", "content": "09:30"},
                {"role": "user", "content": "Thanks"},
            ]
        }
    )
    assert out["contents"][1] == {
        "role": "model",
        "parts": [
            {
                "functionCall": {"name": "get_weather", "args": {"location": "Paris"}},
                "thoughtSignature": "SIG",
            },
            {"functionCall": {"name": "get_time", "args": {"tz": "Asia/Tokyo"}}},
        ],
    }
    # both results (and the next user text) share one user turn; names come from the calls
    assert out["contents"][2] == {
        "role": "user",
        "parts": [
            {"functionResponse": {"name": "get_weather", "response": {"temp_c": 18}}},
            {"functionResponse": {"name": "get_time", "response": {"result": "09:30"}}},
            {"text": "Thanks"},
        ],
    }


def test_calls_without_signature_get_the_documented_placeholder() -> None:
    out = payload(
        {
            "messages": [
                USER,
                {
                    "role": "assistant",
                    "content": "Checking.",
                    "tool_calls": [
                        {"id": "c1", "type": "function", "function": {"name": "f", "arguments": ""}},
                        {"id": "c2", "type": "function", "function": {"name": "f", "arguments": "[1]"}},
                    ],
                },
                {"role": "tool", "tool_call_id": "c1", "content": [{"type": "text", "text": "[1, 2]"}]},
                {"role": "tool", "tool_call_id": "c2", "content": "ok"},
            ]
        }
    )
    model_parts = out["contents"][1]["parts"]
    assert model_parts[0] == {"text": "Checking."}
    assert model_parts[1] == {"functionCall": {"name": "f", "args": {}}, "thoughtSignature": SKIP_SIGNATURE}
    assert model_parts[2] == {"functionCall": {"name": "f", "args": {"arguments": [1]}}}
    # a JSON array is not an object: it is wrapped
    assert out["contents"][2]["parts"][0]["functionResponse"]["response"] == {"result": "[1, 2]"}


def test_generation_config_mapping() -> None:
    out = payload(
        {
            "messages": [USER],
            "temperature": 0.2,
            "top_p": 0.9,
            "top_k": 40,
            "seed": 7,
            "n": 2,
            "presence_penalty": 0.5,
            "frequency_penalty": 0.25,
            "max_tokens": 300,
            "stop": ["END", "STOP"],
            "logprobs": True,
            "top_logprobs": 3,
            "user": "u-1",
            "metadata": {"a": "b"},
            "store": True,
            "parallel_tool_calls": False,
            "logit_bias": {"1": 2},
            "stream_options": {"include_usage": True},
        }
    )
    assert out["generationConfig"] == {
        "temperature": 0.2,
        "topP": 0.9,
        "topK": 40,
        "seed": 7,
        "candidateCount": 2,
        "presencePenalty": 0.5,
        "frequencyPenalty": 0.25,
        "maxOutputTokens": 300,
        "stopSequences": ["END", "STOP"],
        "responseLogprobs": True,
        "logprobs": 3,
    }
    assert set(out) == {"contents", "generationConfig"}  # unknown OpenAI fields never reach Gemini


def test_max_tokens_defaults_and_caps() -> None:
    assert payload({"messages": [USER]}, max_output=2048)["generationConfig"]["maxOutputTokens"] == 2048
    body = {"messages": [USER], "max_completion_tokens": 100000}
    assert payload(body, max_output=2048)["generationConfig"]["maxOutputTokens"] == 2048
    body = {"messages": [USER], "max_completion_tokens": 64, "max_tokens": 500}
    assert payload(body)["generationConfig"]["maxOutputTokens"] == 500  # both set: the larger
    assert payload({"messages": [USER], "stop": "\n\n"})["generationConfig"]["stopSequences"] == ["\n\n"]


def test_reasoning_effort_to_thinking_budget() -> None:
    def thinking(effort: str, **body: object) -> object:
        out = payload({"messages": [USER], "reasoning_effort": effort, **body}, max_output=65536)
        return out["generationConfig"].get("thinkingConfig")

    assert thinking("low") == {"thinkingBudget": 1024, "includeThoughts": True}
    assert thinking("medium") == {"thinkingBudget": 4096, "includeThoughts": True}
    assert thinking("high") == {"thinkingBudget": 16384, "includeThoughts": True}
    assert thinking("high", max_tokens=2000) == {"thinkingBudget": 2000, "includeThoughts": True}
    assert thinking("none") == {"thinkingBudget": 0}
    # the model's max_output caps the budget when the client gives no max_tokens
    assert (
        payload({"messages": [USER], "reasoning_effort": "high"}, max_output=8192)["generationConfig"][
            "thinkingConfig"
        ]["thinkingBudget"]
        == 8192
    )
    assert "thinkingConfig" not in payload({"messages": [USER]})["generationConfig"]


def test_json_mode_and_json_schema() -> None:
    out = payload({"messages": [USER], "response_format": {"type": "json_object"}})
    assert out["generationConfig"]["responseMimeType"] == "application/json"
    assert "responseSchema" not in out["generationConfig"]
    schema = {
        "type": "object",
        "additionalProperties": False,
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
    }
    out = payload(
        {
            "messages": [USER],
            "response_format": {
                "type": "json_schema",
                "json_schema": {"name": "a", "strict": True, "schema": schema},
            },
        }
    )
    assert out["generationConfig"]["responseMimeType"] == "application/json"
    assert out["generationConfig"]["responseSchema"] == {
        "type": "object",
        "properties": {"answer": {"type": "integer"}},
        "required": ["answer"],
    }
    assert schema["additionalProperties"] is False  # the client's body is not modified


def test_drop_params_from_config() -> None:
    p = provider(drop_params=["temperature", "seed"])
    req = p.build_request(
        {"messages": [USER], "temperature": 1.0, "seed": 3, "top_p": 0.5}, target(p), stream=False
    )
    config = json.loads(req.body)["generationConfig"]
    assert "temperature" not in config and "seed" not in config
    assert config["topP"] == 0.5
