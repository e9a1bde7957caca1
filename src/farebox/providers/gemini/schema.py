"""JSON Schema -> the OpenAPI-3.0 subset Gemini's `Schema` accepts.

Gemini answers 400 to keys it does not know (additionalProperties, strict, $schema, $defs...),
to a list-valued `type`, and to non-string enums. We keep the keys it documents, inline local
`$ref`s, turn `type: [T, "null"]` into `nullable`, `const` into a one-value enum and `oneOf`
into `anyOf`. Recursive `$ref`s cannot be inlined; past a small depth they become a bare object.
"""

from __future__ import annotations

from typing import Any

JSON = dict[str, Any]

_KEEP = frozenset({
    "type", "format", "title", "description", "nullable", "enum", "items", "minItems", "maxItems",
    "properties", "required", "propertyOrdering", "anyOf", "minimum", "maximum", "minLength",
    "maxLength", "pattern", "minProperties", "maxProperties", "example", "default",
})
_FORMATS = frozenset({"enum", "date-time", "int32", "int64", "float", "double"})
_MAX_REF_DEPTH = 8


def clean_schema(schema: Any) -> JSON:
    """A copy of `schema` Gemini will accept. The input is never modified."""
    if not isinstance(schema, dict):
        return {}
    defs = {**schema.get("definitions", {}), **schema.get("$defs", {})}
    return _clean(schema, defs, 0)


def _clean(node: JSON, defs: JSON, depth: int) -> JSON:
    node = _merge_all_of(node)
    if isinstance(node.get("$ref"), str):
        return _resolve_ref(node, defs, depth)
    out: JSON = {}
    for key, value in node.items():
        if key in ("oneOf", "anyOf") and isinstance(value, list):
            _clean_any_of(out, value, defs, depth)
        elif key == "const":
            out["enum"] = [_enum_value(value)]
        elif key not in _KEEP:
            continue
        elif key == "type":
            _clean_type(out, value)
        elif key == "properties" and isinstance(value, dict):
            out["properties"] = {name: _clean(sub, defs, depth) if isinstance(sub, dict) else {}
                                 for name, sub in value.items()}
        elif key == "items":
            out["items"] = _clean(value, defs, depth) if isinstance(value, dict) else {}
        elif key == "enum" and isinstance(value, list):
            out["enum"] = [_enum_value(v) for v in value if v is not None]
            if None in value:
                out["nullable"] = True
        elif key == "format":
            if value in _FORMATS:
                out["format"] = value
        else:
            out[key] = value
    if "enum" in out:
        out["type"] = "string"  # Gemini enums are strings only
    if isinstance(out.get("required"), list) and "properties" in out:
        out["required"] = [name for name in out["required"] if name in out["properties"]]
    return out


def _resolve_ref(node: JSON, defs: JSON, depth: int) -> JSON:
    ref: str = node["$ref"]
    target = defs.get(ref.rsplit("/", 1)[-1]) if ref.startswith("#/") else None
    if not isinstance(target, dict) or depth >= _MAX_REF_DEPTH:
        return {"type": "object"}
    merged = {**target, **{k: v for k, v in node.items() if k != "$ref"}}
    return _clean(merged, defs, depth + 1)


def _clean_type(out: JSON, value: Any) -> None:
    if isinstance(value, list):
        kinds = [v for v in value if v != "null"]
        if len(kinds) < len(value):
            out["nullable"] = True
        if kinds:
            out["type"] = kinds[0]
    elif isinstance(value, str) and value != "null":
        out["type"] = value
    elif value == "null":
        out["nullable"] = True


def _clean_any_of(out: JSON, options: list[Any], defs: JSON, depth: int) -> None:
    branches = [o for o in options if isinstance(o, dict)]
    real = [b for b in branches if b.get("type") != "null"]
    if len(real) < len(branches):
        out["nullable"] = True
    if len(real) == 1:
        out.update({k: v for k, v in _clean(real[0], defs, depth).items() if k not in out})
    elif real:
        out["anyOf"] = [_clean(b, defs, depth) for b in real]


def _merge_all_of(node: JSON) -> JSON:
    parts = node.get("allOf")
    if not isinstance(parts, list):
        return node
    merged: JSON = {k: v for k, v in node.items() if k != "allOf"}
    for part in parts:
        if not isinstance(part, dict):
            continue
        for key, value in part.items():
            if key == "properties" and isinstance(value, dict):
                merged["properties"] = {**merged.get("properties", {}), **value}
            elif key == "required" and isinstance(value, list):
                merged["required"] = [*merged.get("required", []), *value]
            else:
                merged.setdefault(key, value)
    return merged


def _enum_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value if isinstance(value, str) else str(value)
