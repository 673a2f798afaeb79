"""Checks a JSON value against a JSON schema: the subset that structured outputs use.

OpenAI's strict structured outputs accept ``type`` (also as a list), ``properties``,
``required``, ``additionalProperties``, ``items``, ``enum``, ``const``, ``anyOf``, and ``$ref``
to ``#/$defs/...`` (or any local JSON pointer). Those are checked here; keywords outside that
subset (``pattern``, ``format``, numeric bounds...) are not, so a reply is never rejected for a
rule the server itself may not enforce.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

__all__ = ["schema_violation"]

_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "number": (int, float),
    "integer": (int,),
    "boolean": (bool,),
    "null": (type(None),),
}
_MAX_DEPTH = 64


def schema_violation(value: Any, schema: Mapping[str, Any]) -> str | None:
    """The first way ``value`` breaks ``schema``, as a sentence with a JSON path; ``None`` if
    it conforms.

    Example:
        >>> schema = {"type": "object", "properties": {"label": {"enum": ["yes", "no"]}},
        ...           "required": ["label"], "additionalProperties": False}
        >>> schema_violation({"label": "yes"}, schema) is None
        True
        >>> schema_violation({"label": "maybe"}, schema)
        "$.label is 'maybe', not one of ['yes', 'no']"
        >>> schema_violation({}, schema)
        "$ lacks the required property 'label'"
    """
    return _check(value, schema, schema, "$", 0)


def _resolve(ref: str, root: Mapping[str, Any]) -> Mapping[str, Any] | None:
    if not ref.startswith("#"):
        return None
    node: Any = root
    for part in ref[1:].split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        if not isinstance(node, Mapping) or part not in node:
            return None
        node = node[part]
    return node if isinstance(node, Mapping) else None


def _is_type(value: Any, name: str) -> bool:
    if name in ("number", "integer") and isinstance(value, bool):
        return False
    if name == "integer" and isinstance(value, float):
        return value.is_integer()
    return isinstance(value, _TYPES.get(name, (object,)))


def _check(
    value: Any, schema: Mapping[str, Any], root: Mapping[str, Any], path: str, depth: int
) -> str | None:
    if depth > _MAX_DEPTH or not isinstance(schema, Mapping):
        return None
    ref = schema.get("$ref")
    if isinstance(ref, str):
        target = _resolve(ref, root)
        if target is not None:
            problem = _check(value, target, root, path, depth + 1)
            if problem is not None:
                return problem
    branches = schema.get("anyOf")
    if isinstance(branches, list) and branches:
        problems = [_check(value, branch, root, path, depth + 1) for branch in branches]
        if all(problem is not None for problem in problems):
            return f"{path} matches none of the {len(branches)} allowed forms ({problems[0]})"
    kind = schema.get("type")
    kinds = [kind] if isinstance(kind, str) else kind if isinstance(kind, list) else []
    if kinds and not any(_is_type(value, k) for k in kinds):
        wanted = " or ".join(str(k) for k in kinds)
        return f"{path} is {_json_type(value)}, not {wanted}"
    if "const" in schema and value != schema["const"]:
        return f"{path} is {value!r}, not {schema['const']!r}"
    enum = schema.get("enum")
    if isinstance(enum, list) and value not in enum:
        return f"{path} is {value!r}, not one of {enum!r}"
    if isinstance(value, dict):
        return _check_object(value, schema, root, path, depth)
    if isinstance(value, list):
        items = schema.get("items")
        if isinstance(items, Mapping):
            for index, item in enumerate(value):
                problem = _check(item, items, root, f"{path}[{index}]", depth + 1)
                if problem is not None:
                    return problem
    return None


def _check_object(
    value: dict[str, Any], schema: Mapping[str, Any], root: Mapping[str, Any], path: str, depth: int
) -> str | None:
    properties = schema.get("properties")
    properties = properties if isinstance(properties, Mapping) else {}
    required = schema.get("required")
    for name in required if isinstance(required, list) else []:
        if name not in value:
            return f"{path} lacks the required property {name!r}"
    extra = schema.get("additionalProperties", True)
    for name, item in value.items():
        where = f"{path}.{name}"
        if name in properties:
            problem = _check(item, properties[name], root, where, depth + 1)
        elif extra is False:
            problem = f"{path} has the property {name!r}, which the schema does not allow"
        elif isinstance(extra, Mapping):
            problem = _check(item, extra, root, where, depth + 1)
        else:
            problem = None
        if problem is not None:
            return problem
    return None


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
