"""Deterministic, schema-valid example values for JSON schemas (the scripted model's default
answer to structured-output requests)."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

__all__ = ["example_for_schema"]

_ECHO_PREFIX = "[scripted]"  # the same prefix as the scripted echo answer

_STRING_FORMATS = {
    "date-time": "1970-01-01T00:00:00Z",
    "date": "1970-01-01",
    "time": "00:00:00Z",
    "duration": "PT0S",
    "email": "user@example.com",
    "hostname": "example.com",
    "ipv4": "127.0.0.1",
    "ipv6": "::1",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "00000000-0000-0000-0000-000000000000",
}
_MAX_DEPTH = 64


def example_for_schema(schema: Mapping[str, Any]) -> Any:
    """A deterministic JSON value that is valid against ``schema``.

    Supports ``type`` (also as a list, where the first non-null type is used), ``const``,
    ``enum`` (first value), ``anyOf``/``oneOf`` (first branch), ``allOf`` (merged), ``$ref`` to
    ``#/$defs/...``, ``#/definitions/...`` or any local JSON pointer (recursion stops at
    optional parts), objects (every property is filled), arrays (``items``, ``prefixItems``,
    ``minItems``/``maxItems``; one item unless more are required), strings (``minLength``,
    ``maxLength``, common ``format`` values; ``pattern`` is ignored), numbers and integers
    (``minimum``, ``maximum`` and their exclusive forms, ``multipleOf`` for integers), booleans
    (``false``) and ``null``.

    Args:
        schema: A JSON schema, such as the ``schema`` of an OpenAI ``json_schema``
            response format.

    Returns:
        A JSON-serializable value.

    Raises:
        ValueError: For a ``$ref`` that does not resolve, or a recursive schema with no finite
            instance.

    Example:
        >>> example_for_schema({
        ...     "type": "object",
        ...     "properties": {
        ...         "answer": {"type": "string"},
        ...         "score": {"type": "integer", "minimum": 1},
        ...         "tags": {"type": "array", "items": {"enum": ["a", "b"]}},
        ...     },
        ...     "required": ["answer", "score", "tags"],
        ... })
        {'answer': '[scripted] answer', 'score': 1, 'tags': ['a']}
    """
    return _SchemaExample(schema).build(schema, "value", (), minimal=False)


class _SchemaExample:
    """Walks one schema; ``minimal`` mode (entered on a repeated ``$ref``) fills only what is
    required, so recursive schemas end."""

    def __init__(self, root: Mapping[str, Any]) -> None:
        self.root = root

    def resolve(self, ref: str) -> Any:
        if not ref.startswith("#"):
            raise ValueError(f"only local $ref values ('#/...') are supported, got {ref!r}")
        node: Any = self.root
        for raw in ref[1:].split("/")[1:]:
            part = raw.replace("~1", "/").replace("~0", "~")
            if isinstance(node, Mapping) and part in node:
                node = node[part]
            elif isinstance(node, list) and part.isdigit() and int(part) < len(node):
                node = node[int(part)]
            else:
                raise ValueError(f"$ref {ref!r} does not resolve in the schema")
        return node

    def build(self, schema: Any, name: str, refs: tuple[str, ...], *, minimal: bool) -> Any:
        if len(refs) > _MAX_DEPTH:
            raise ValueError(
                f"recursive schema through {refs[-1]!r} has no finite instance "
                "(make the recursive part optional, nullable or an array)"
            )
        if not isinstance(schema, Mapping):
            return None  # `true` accepts anything
        if "$ref" in schema:
            ref = str(schema["$ref"])
            target = self.resolve(ref)
            merged = {**target, **{k: v for k, v in schema.items() if k != "$ref"}}
            return self.build(merged, name, (*refs, ref), minimal=minimal or ref in refs)
        if "const" in schema:
            return schema["const"]
        enum = schema.get("enum")
        if isinstance(enum, list) and enum:
            return enum[0]
        for key in ("anyOf", "oneOf"):
            options = schema.get(key)
            if isinstance(options, list) and options:
                rest = {k: v for k, v in schema.items() if k != key}
                option = self._pick_option(options, minimal=minimal)
                return self.build({**rest, **option}, name, refs, minimal=minimal)
        all_of = schema.get("allOf")
        if isinstance(all_of, list) and all_of:
            return self.build(self._merge(schema, all_of), name, refs, minimal=minimal)
        kind = self._type(schema, minimal=minimal)
        if kind == "object":
            return self._object(schema, refs, minimal=minimal)
        if kind == "array":
            return self._array(schema, name, refs, minimal=minimal)
        if kind == "string":
            return self._string(schema, name)
        if kind in ("integer", "number"):
            return self._number(schema, integer=kind == "integer")
        if kind == "boolean":
            return False
        return None

    def _pick_option(self, options: list[Any], *, minimal: bool) -> Mapping[str, Any]:
        if minimal:
            for option in options:
                if isinstance(option, Mapping) and option.get("type") == "null":
                    return option
        first = options[0]
        return first if isinstance(first, Mapping) else {}

    def _merge(self, schema: Mapping[str, Any], parts: list[Any]) -> dict[str, Any]:
        merged: dict[str, Any] = {k: v for k, v in schema.items() if k != "allOf"}
        properties: dict[str, Any] = dict(merged.get("properties") or {})
        required: list[str] = list(merged.get("required") or [])
        for part in parts:
            while isinstance(part, Mapping) and "$ref" in part:
                part = {
                    **self.resolve(str(part["$ref"])),
                    **{k: v for k, v in part.items() if k != "$ref"},
                }
            if not isinstance(part, Mapping):
                continue
            properties.update(part.get("properties") or {})
            required.extend(key for key in part.get("required") or [] if key not in required)
            for key, value in part.items():
                if key not in ("properties", "required"):
                    merged.setdefault(key, value)
        if properties:
            merged["properties"] = properties
        if required:
            merged["required"] = required
        return merged

    def _type(self, schema: Mapping[str, Any], *, minimal: bool) -> str | None:
        kind = schema.get("type")
        if isinstance(kind, list):
            if minimal and "null" in kind:
                return "null"
            concrete = [k for k in kind if k != "null"]
            return str(concrete[0]) if concrete else "null"
        if isinstance(kind, str):
            return kind
        if any(key in schema for key in ("properties", "required", "additionalProperties")):
            return "object"
        if any(key in schema for key in ("items", "prefixItems")):
            return "array"
        return None

    def _object(
        self, schema: Mapping[str, Any], refs: tuple[str, ...], *, minimal: bool
    ) -> dict[str, Any]:
        properties = schema.get("properties")
        properties = properties if isinstance(properties, Mapping) else {}
        required = [key for key in schema.get("required") or [] if isinstance(key, str)]
        result: dict[str, Any] = {}
        for key, subschema in properties.items():
            if minimal and key not in required:
                continue
            result[key] = self.build(subschema, key, refs, minimal=minimal)
        extra = schema.get("additionalProperties")
        for key in required:
            if key not in result:
                result[key] = self.build(
                    extra if isinstance(extra, Mapping) else {}, key, refs, minimal=minimal
                )
        return result

    def _array(
        self, schema: Mapping[str, Any], name: str, refs: tuple[str, ...], *, minimal: bool
    ) -> list[Any]:
        prefix = schema.get("prefixItems")
        prefix = prefix if isinstance(prefix, list) else []
        items = schema.get("items")
        min_items = int(schema.get("minItems", 0))
        count = min_items if minimal else max(min_items, 1)
        max_items = schema.get("maxItems")
        if isinstance(max_items, int):
            count = min(count, max_items)
        if items is False:
            count = min(count, len(prefix))
        result = []
        for index in range(count):
            subschema = prefix[index] if index < len(prefix) else items
            result.append(self.build(subschema, f"{name} {index + 1}", refs, minimal=minimal))
        return result

    def _string(self, schema: Mapping[str, Any], name: str) -> str:
        value = _STRING_FORMATS.get(str(schema.get("format")), f"{_ECHO_PREFIX} {name}")
        min_length = schema.get("minLength")
        if isinstance(min_length, int) and len(value) < min_length:
            value += "x" * (min_length - len(value))
        max_length = schema.get("maxLength")
        if isinstance(max_length, int):
            value = value[:max_length]
        return value

    def _number(self, schema: Mapping[str, Any], *, integer: bool) -> int | float:
        low, low_open = _bound(schema, "minimum", "exclusiveMinimum")
        high, high_open = _bound(schema, "maximum", "exclusiveMaximum")
        if integer:
            if low is not None:
                low = (
                    math.floor(low) + 1 if low_open and float(low).is_integer() else math.ceil(low)
                )
            if high is not None:
                high = (
                    math.ceil(high) - 1
                    if high_open and float(high).is_integer()
                    else math.floor(high)
                )
            value: int | float = 0
            if low is not None and value < low:
                value = low
            if high is not None and value > high:
                value = high
            step = schema.get("multipleOf")
            if isinstance(step, int) and step > 0 and value % step:
                value = math.ceil(value / step) * step
            return int(value)
        value = 0
        if low is not None and (value < low or (low_open and value <= low)):
            value = low + 1 if low_open else low
        if high is not None and (value > high or (high_open and value >= high)):
            value = high - 1 if high_open else high
            if low is not None and (value < low or (low_open and value <= low)):
                value = (low + high) / 2
        return value


def _bound(
    schema: Mapping[str, Any], inclusive: str, exclusive: str
) -> tuple[int | float | None, bool]:
    """A bound and whether it is exclusive, from either JSON-schema spelling of it."""
    closed = _number_or_none(schema.get(inclusive))
    flag = schema.get(exclusive)
    if flag is True and closed is not None:  # draft 4: a boolean beside the bound
        return closed, True
    opened = _number_or_none(flag)
    if opened is None:
        return closed, False
    tighter = closed is not None and (
        closed > opened if inclusive == "minimum" else closed < opened
    )
    return (closed, False) if tighter else (opened, True)


def _number_or_none(value: object) -> int | float | None:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return value
    return None
