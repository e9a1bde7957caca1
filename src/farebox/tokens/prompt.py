"""Token estimates for requests and replies, where no upstream count is available.

Used before the upstream call (admission holds, smart-route's context and cost checks) and
for completion tokens when an upstream reports none or a client abandons a stream. Text is
estimated by farebox.tokens.estimate (calibrated against recorded tokenizer counts; see
there for the method and its error). This module adds the chat structure, after OpenAI's
published way of counting ("How to count tokens with tiktoken", OpenAI cookbook), whose
examples the tests check against the API's recorded counts:

- each message costs 3 tokens plus its role (1), and 1 more plus the name when named;
  every reply is primed with 3 tokens;
- tool definitions are rendered into the prompt as a compact TypeScript-like namespace, not
  as JSON: per function 7 tokens plus "name:description", per parameter 3 plus
  "name:type:description", enum values 3 each (less 3 per enum), and 12 once at the end;
  nested object/array schemas are walked the same way (an assumption: the cookbook covers
  flat parameters only);
- an assistant's tool call costs its name and arguments plus TOOL_CALL_OVERHEAD (assumed,
  like the format's other separators the API does not document);
- a response_format JSON schema is estimated from its JSON text (its rendering is not
  documented; JSON overestimates a compact rendering, the safe side for holds);
- images cost a fixed estimate by detail: "low" 85, "high"/"auto" 765, which is 85 + 170 per
  512-pixel tile for a typical 1024x1024 image after OpenAI's scaling (up to 1,445 for a
  large non-square image; the size is not known without fetching or decoding it);
- audio and file parts cost a nominal fixed estimate (their length is not known cheaply).

Two numbers come out of one walk (estimate_prompt): `estimate`, the calibrated figure above,
for ranking, rate limits and reporting; and `upper`, a bound the real count cannot exceed,
for holds and context checks, which a crafted text must not be able to steer low. No
character-class estimate can be that bound: letters in rare pairs ("zqzq...") cost one token
per byte in cl100k_base and o200k_base, digit and whitespace runs up to 1/3 and 1/2 per
character, so `upper` counts what every tokenizer farebox fronts is bounded by:

- text: its UTF-8 bytes + 1. A byte-level BPE (cl100k, o200k, Llama 3, Qwen, Mistral's
  Tekken) never makes more tokens than bytes; SentencePiece with byte fallback (Gemini,
  Llama 2) neither, plus its one leading "▁" piece;
- per message UPPER_MESSAGE_OVERHEAD, once UPPER_TEMPLATE for what a chat template adds
  (roles, turn markers, a default system prompt);
- tools and a response_format schema: the bytes of their JSON (templates that render tools
  as JSON, Qwen's and Hermes', render exactly that), plus the cookbook's constants;
- image parts: UPPER_IMAGE (the most a GPT-4o-family image counts after OpenAI's scaling);
- audio and file parts: from the size of their base64 data (see _media_upper).

tests/unit/test_tokens_bound.py checks the bound against the real cl100k_base and o200k_base
over adversarial texts. English costs about 4.3 bytes per token, so `upper` is ~3.7x the
real count of ordinary prose: the price of a bound no text can defeat.

Cost: each text is estimated in a few C-level passes (about 10 us per KB), a single text
longer than 16 K characters from samples, and past PROMPT_EXACT_CHARS characters in one
prompt the rest is estimated from its length at the ratio seen so far, so a request's
estimate stays bounded whatever the body's size. Malformed bodies never raise: what cannot
be read is skipped. `upper` reads every text's length (no sampling, no budget): for ASCII
that is O(1), otherwise one UTF-8 encode (~1 us per KB).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from farebox.tokens.estimate import O200K, Profile, text_tokens

MESSAGE_OVERHEAD = 4  # 3 per message, 1 for the role
NAME_OVERHEAD = 1
REPLY_PRIMING = 3
TOOL_CALL_OVERHEAD = 7
FUNCTION_INIT = 7
PROPERTIES_INIT = 3
PROPERTY_KEY = 3
ENUM_INIT = -3
ENUM_ITEM = 3
FUNCTIONS_END = 12
IMAGE_LOW = 85
IMAGE_HIGH = 765
AUDIO_PART = 500
FILE_PART = 1000
PROMPT_EXACT_CHARS = 262_144
UPPER_MESSAGE_OVERHEAD = 8  # Llama 3's turn markers are 5, OpenAI's 4 (with the role)
UPPER_TEMPLATE = 64  # once per prompt: reply priming, default system prompts (Qwen's is ~20)
UPPER_IMAGE = 1_445  # GPT-4o, high detail: 85 + 170 x 8 tiles, the most after OpenAI's scaling
UPPER_TOOLS_TEMPLATE = 256  # Qwen's and Hermes' tool instructions around the tools' JSON: ~150
UPPER_AUDIO_BYTES_PER_TOKEN = 8  # 32 tokens/s (Gemini) at 2 kbit/s, below any codec accepted
_DEFAULT_RATIO = 0.3  # tokens per character before any text has been measured
_IMAGE_PARTS = ("image_url", "input_image", "image")
_SCHEMA_KEYS = frozenset({"type", "description", "enum", "properties", "items", "required"})


def estimate_text_tokens(text: str) -> int:
    """Estimated tokens of a text (o200k_base calibration); 0 for empty text."""
    return text_tokens(text, O200K)


@dataclass(frozen=True, slots=True)
class PromptSize:
    """A prompt's calibrated estimate and the upper bound of its real count (see above)."""

    estimate: int
    upper: int


def estimate_prompt_tokens(body: dict[str, Any]) -> int:
    """Estimated prompt tokens of an OpenAI chat body: messages, tool definitions, images."""
    return estimate_prompt(body, O200K).estimate


def estimate_prompt_tokens_with(body: dict[str, Any], profile: Profile) -> int:
    """estimate_prompt_tokens for a given tokenizer profile (see profile_for_model)."""
    return estimate_prompt(body, profile).estimate


def estimate_prompt(body: dict[str, Any], profile: Profile = O200K) -> PromptSize:
    """Both numbers for an OpenAI chat body, in one walk."""
    counter = _Counter(profile)
    if not isinstance(body, dict):
        return PromptSize(REPLY_PRIMING, UPPER_TEMPLATE)
    total = REPLY_PRIMING
    messages = body.get("messages")
    if isinstance(messages, list):
        for message in messages:
            if isinstance(message, dict):
                total += counter.message(message)
                counter.extra += UPPER_MESSAGE_OVERHEAD - MESSAGE_OVERHEAD
    tools = body.get("tools")
    if isinstance(tools, list) and tools:
        total += counter.json_bound(tools, lambda: counter.tools(tools))
    functions = body.get("functions")  # the legacy form of tools
    if isinstance(functions, list) and functions:
        total += counter.json_bound(functions, lambda: counter.tools([{"function": f} for f in functions]))
    total += counter.response_format(body.get("response_format"))
    total = max(total, 0)
    upper = total + counter.extra + UPPER_TEMPLATE - REPLY_PRIMING
    return PromptSize(total, max(upper, total))


class _Counter:
    """Walks one request body, keeping the per-prompt budget of exactly estimated text, and
    `extra`: what the upper bound adds to the estimate (bytes instead of estimates, etc.)."""

    __slots__ = ("profile", "budget", "chars", "tokens", "extra")

    def __init__(self, profile: Profile) -> None:
        self.profile = profile
        self.budget = PROMPT_EXACT_CHARS
        self.chars = 0
        self.tokens = 0
        self.extra = 0

    def text(self, text: object) -> int:
        if not isinstance(text, str) or not text:
            return 0
        n = self._estimate(text)
        self.extra += _utf8_len(text) + 1 - n
        return n

    def json_bound(self, value: object, walk: Callable[[], int]) -> int:
        # Estimated from the pieces OpenAI renders; bounded by the larger of those pieces'
        # bytes and the whole JSON's bytes plus a JSON-rendering template's instructions.
        extra = self.extra
        n = walk()
        walked = n + self.extra - extra
        self.extra = extra + max(walked, _utf8_len(_json(value)) + UPPER_TOOLS_TEMPLATE) - n
        return n

    def _estimate(self, text: str) -> int:
        if len(text) > self.budget:
            ratio = self.tokens / self.chars if self.chars else _DEFAULT_RATIO
            return max(1, round(len(text) * ratio))
        n = text_tokens(text, self.profile)
        self.budget -= len(text)
        self.chars += len(text)
        self.tokens += n
        return n

    def message(self, message: dict[str, Any]) -> int:
        total = MESSAGE_OVERHEAD
        name = message.get("name")
        if isinstance(name, str) and name:
            total += NAME_OVERHEAD + self.text(name)
        total += self.content(message.get("content"))
        total += self.text(message.get("refusal"))
        tool_calls = message.get("tool_calls")
        if isinstance(tool_calls, list):
            for call in tool_calls:
                if isinstance(call, dict):
                    total += self.call(call.get("function"))
        total += self.call(message.get("function_call"))
        return total

    def call(self, function: object) -> int:
        if not isinstance(function, dict):
            return 0
        return TOOL_CALL_OVERHEAD + self.text(function.get("name")) + self.text(function.get("arguments"))

    def content(self, content: object) -> int:
        if isinstance(content, str):
            return self.text(content)
        if not isinstance(content, list):
            return 0
        total = 0
        for part in content:
            if isinstance(part, str):
                total += self.text(part)
            elif isinstance(part, dict):
                total += self.part(part)
        return total

    def part(self, part: dict[str, Any]) -> int:
        kind = part.get("type")
        if kind in _IMAGE_PARTS:
            image = part.get(kind)
            detail = image.get("detail") if isinstance(image, dict) else None
            n = IMAGE_LOW if detail == "low" else IMAGE_HIGH
            self.extra += UPPER_IMAGE - n
            return n
        if kind == "input_audio":
            audio = part.get("input_audio")
            data = audio.get("data") if isinstance(audio, dict) else None
            self.extra += max(AUDIO_PART, _base64_bytes(data) // UPPER_AUDIO_BYTES_PER_TOKEN) - AUDIO_PART
            return AUDIO_PART
        if kind == "file":
            file = part.get("file")
            data = file.get("file_data") if isinstance(file, dict) else None
            self.extra += max(FILE_PART, _base64_bytes(data)) - FILE_PART
            return FILE_PART
        # "text", "refusal" and anything unknown that carries text; the bound counts an
        # unknown part's whole JSON, whatever the upstream makes of it.
        if kind not in ("text", "refusal"):
            self.extra += _utf8_len(_json(part))
        return self.text(part.get("text")) + self.text(part.get("refusal"))

    def tools(self, tools: list[Any]) -> int:
        total = FUNCTIONS_END
        for tool in tools:
            function = tool.get("function") if isinstance(tool, dict) else None
            if not isinstance(function, dict):
                continue
            total += FUNCTION_INIT + self.text(function.get("name")) + self.text(function.get("description"))
            total += self.schema_body(function.get("parameters"), depth=0)
        return total

    def schema_body(self, schema: object, depth: int) -> int:
        # The parameters of an object schema (or the items of an array), as the renderer
        # lists them: one line per property.
        if not isinstance(schema, dict) or depth > 8:
            return 0
        total = 0
        properties = schema.get("properties")
        if isinstance(properties, dict) and properties:
            total += PROPERTIES_INIT
            for name, prop in properties.items():
                total += PROPERTY_KEY + self.text(name) + self.property(prop, depth)
        total += self.schema_body(schema.get("items"), depth + 1)
        return total

    def property(self, prop: object, depth: int) -> int:
        if not isinstance(prop, dict):
            return 0
        total = self.text(prop.get("type")) + self.text(prop.get("description"))
        enum = prop.get("enum")
        if isinstance(enum, list) and enum:
            total += ENUM_INIT
            for item in enum:
                total += ENUM_ITEM + self.text(item if isinstance(item, str) else _json(item))
        # Anything else (anyOf, format, minimum, default...) is counted from its JSON.
        extra = {k: v for k, v in prop.items() if k not in _SCHEMA_KEYS}
        if extra:
            total += self.text(_json(extra))
        return total + self.schema_body(prop, depth + 1)

    def response_format(self, response_format: object) -> int:
        if not isinstance(response_format, dict):
            return 0
        schema = response_format.get("json_schema")
        return self.text(_json(schema)) if isinstance(schema, dict) else 0


def _utf8_len(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


def _base64_bytes(data: object) -> int:
    """Decoded size of base64 data (a data: URL or bare), from its length: no decoding."""
    if not isinstance(data, str):
        return 0
    return (len(data) - (data.find(",") + 1)) * 3 // 4


def _json(value: object) -> str:
    try:
        return msgspec.json.encode(value).decode()
    except (TypeError, ValueError, OverflowError):
        return str(value)
