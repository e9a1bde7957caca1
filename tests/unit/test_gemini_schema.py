"""JSON Schema -> the Schema subset Gemini accepts."""

from __future__ import annotations

import copy

from farebox.providers.gemini.schema import clean_schema
from tests.fakes.gemini_upstream import _bad_schema_key


def test_strips_rejected_keys_recursively() -> None:
    schema = {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": "x",
        "strict": True,
        "type": "object",
        "additionalProperties": False,
        "title": "Order",
        "properties": {
            "items": {
                "type": "array",
                "uniqueItems": True,
                "minItems": 1,
                "items": {
                    "type": "object",
                    "additionalProperties": False,
                    "patternProperties": {"^x": {}},
                    "properties": {
                        "sku": {"type": "string", "format": "uuid", "pattern": "^[A-Z]+$"},
                        "when": {"type": "string", "format": "date-time"},
                    },
                },
            },
            "count": {"type": "integer", "exclusiveMinimum": 0, "minimum": 1, "multipleOf": 2},
        },
        "required": ["items", "ghost"],
    }
    before = copy.deepcopy(schema)
    out = clean_schema(schema)
    assert out == {
        "type": "object",
        "title": "Order",
        "properties": {
            "items": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "type": "object",
                    "properties": {
                        "sku": {"type": "string", "pattern": "^[A-Z]+$"},
                        "when": {"type": "string", "format": "date-time"},
                    },
                },
            },
            "count": {"type": "integer", "minimum": 1},
        },
        "required": ["items"],  # names not in properties are dropped
    }
    assert schema == before
    assert _bad_schema_key(out) is None


def test_nullable_forms_const_and_enums() -> None:
    out = clean_schema(
        {
            "type": "object",
            "properties": {
                "a": {"type": ["integer", "null"]},
                "b": {"anyOf": [{"type": "string"}, {"type": "null"}], "description": "maybe"},
                "c": {"const": "fixed"},
                "d": {"type": "integer", "enum": [1, 2, None]},
                "e": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            },
        }
    )
    assert out["properties"] == {
        "a": {"type": "integer", "nullable": True},
        "b": {"nullable": True, "type": "string", "description": "maybe"},
        "c": {"enum": ["fixed"], "type": "string"},
        "d": {"type": "string", "enum": ["1", "2"], "nullable": True},
        "e": {"anyOf": [{"type": "string"}, {"type": "integer"}]},
    }


def test_refs_are_inlined_and_recursion_is_bounded() -> None:
    schema = {
        "type": "object",
        "$defs": {
            "Point": {
                "type": "object",
                "properties": {"x": {"type": "number"}},
                "additionalProperties": False,
            },
            "Node": {"type": "object", "properties": {"child": {"$ref": "#/$defs/Node"}}},
        },
        "properties": {
            "p": {"$ref": "#/$defs/Point", "description": "where"},
            "q": {"allOf": [{"$ref": "#/$defs/Point"}]},
            "tree": {"$ref": "#/$defs/Node"},
            "ext": {"$ref": "https://example.com/schema.json"},
        },
    }
    out = clean_schema(schema)
    point = {"type": "object", "properties": {"x": {"type": "number"}}}
    assert out["properties"]["p"] == {**point, "description": "where"}
    assert out["properties"]["q"] == point
    assert out["properties"]["ext"] == {"type": "object"}
    depth, node = 0, out["properties"]["tree"]
    while "properties" in node:
        node, depth = node["properties"]["child"], depth + 1
    assert node == {"type": "object"} and 1 < depth <= 10
    assert "$defs" not in out and _bad_schema_key(out) is None


def test_not_a_dict() -> None:
    assert clean_schema(None) == {}
    assert clean_schema(True) == {}
