"""ScriptedModel, its rules and replies, and the schema-valid defaults (no HTTP involved)."""

from __future__ import annotations

import json
import math
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from afnio.testing import (
    ChatRequest,
    Reply,
    ScriptedModel,
    default_content,
    estimate_tokens,
    example_for_schema,
)


def chat(*messages: tuple[str, Any], **extra: Any) -> ChatRequest:
    body = {
        "model": extra.pop("model", "gpt-4o"),
        "messages": [{"role": role, "content": content} for role, content in messages],
    }
    return ChatRequest({**body, **extra})


def schema_format(schema: dict[str, Any], name: str = "Thing") -> dict[str, Any]:
    return {"type": "json_schema", "json_schema": {"name": name, "schema": schema}}


# -- a small JSON-schema validator, to check generated instances independently ---------------------


def resolve(root: dict[str, Any], ref: str) -> Any:
    node: Any = root
    for part in ref.lstrip("#").split("/")[1:]:
        node = node[part.replace("~1", "/").replace("~0", "~")]
    return node


def is_type(value: Any, kind: str) -> bool:
    checks = {
        "object": lambda v: isinstance(v, dict),
        "array": lambda v: isinstance(v, list),
        "string": lambda v: isinstance(v, str),
        "integer": lambda v: isinstance(v, int) and not isinstance(v, bool),
        "number": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
        "boolean": lambda v: isinstance(v, bool),
        "null": lambda v: v is None,
    }
    return bool(checks[kind](value))


def validate(value: Any, schema: Any, root: dict[str, Any]) -> None:
    """Raise AssertionError if ``value`` breaks ``schema`` (the subset the generator supports)."""
    if not isinstance(schema, dict):
        return
    if "$ref" in schema:
        validate(value, resolve(root, schema["$ref"]), root)
    if "const" in schema:
        assert value == schema["const"]
    if "enum" in schema:
        assert value in schema["enum"]
    if "anyOf" in schema:
        assert any(is_valid(value, option, root) for option in schema["anyOf"])
    if "oneOf" in schema:
        assert sum(is_valid(value, option, root) for option in schema["oneOf"]) == 1
    for part in schema.get("allOf", []):
        validate(value, part, root)
    if "type" in schema:
        kinds = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        assert any(is_type(value, kind) for kind in kinds), (value, kinds)
    if isinstance(value, dict):
        properties = schema.get("properties", {})
        assert set(schema.get("required", [])) <= set(value)
        for key, item in value.items():
            if key in properties:
                validate(item, properties[key], root)
            elif schema.get("additionalProperties") is False:
                raise AssertionError(f"unexpected property {key!r}")
    if isinstance(value, list):
        assert len(value) >= schema.get("minItems", 0)
        assert len(value) <= schema.get("maxItems", math.inf)
        prefix = schema.get("prefixItems", [])
        for index, item in enumerate(value):
            validate(item, prefix[index] if index < len(prefix) else schema.get("items"), root)
    if isinstance(value, str):
        assert schema.get("minLength", 0) <= len(value) <= schema.get("maxLength", math.inf)
    if is_type(value, "number"):
        assert value >= schema.get("minimum", -math.inf)
        assert value <= schema.get("maximum", math.inf)
        assert value > schema.get("exclusiveMinimum", -math.inf)
        assert value < schema.get("exclusiveMaximum", math.inf)
        if "multipleOf" in schema:
            assert value % schema["multipleOf"] == 0


def is_valid(value: Any, schema: Any, root: dict[str, Any]) -> bool:
    try:
        validate(value, schema, root)
    except AssertionError:
        return False
    return True


def check_example(schema: dict[str, Any]) -> Any:
    value = example_for_schema(schema)
    assert json.loads(json.dumps(value)) == value
    validate(value, schema, schema)
    assert example_for_schema(schema) == value  # deterministic
    return value


# -- ChatRequest -----------------------------------------------------------------------------------


def test_chat_request_views() -> None:
    request = chat(
        ("system", "Rule one."),
        ("user", "old question"),
        ("developer", [{"type": "text", "text": "Rule two."}]),
        ("assistant", None),
        (
            "user",
            [
                {"type": "text", "text": "new"},
                {"type": "input_audio"},
                {"type": "text", "text": "question"},
            ],
        ),
        response_format=schema_format({"type": "object"}, "Verdict"),
    )
    assert request.model == "gpt-4o"
    assert request.system == "Rule one.\n\nRule two."
    assert request.user == "new\nquestion"
    assert request.text == "Rule one.\n\nold question\n\nRule two.\n\n\n\nnew\nquestion"
    assert request.schema == {"type": "object"}
    assert request.schema_name == "Verdict"
    assert request.response_format_type == "json_schema"
    assert request.wants_json


def test_chat_request_tolerates_missing_parts() -> None:
    request = ChatRequest({})
    assert (request.model, request.messages, request.system, request.user, request.text) == (
        "",
        [],
        "",
        "",
        "",
    )
    assert request.response_format is None and request.schema is None
    assert request.schema_name is None and not request.wants_json
    json_mode = chat(("user", "x"), response_format={"type": "json_object"})
    assert json_mode.wants_json and json_mode.schema is None


# -- rules -----------------------------------------------------------------------------------------


def test_first_matching_rule_answers() -> None:
    model = ScriptedModel()
    general = model.when(user="weather").reply("sunny")
    specific = model.when(user="weather in Oslo").reply("snow")
    assert model(chat(("user", "weather in Oslo?"))).text == "sunny"
    assert (general.hits, specific.hits) == (1, 0)


def test_every_condition_must_hold() -> None:
    model = ScriptedModel()
    rule = model.when(
        system=r"^You grade",
        user=r"answer: \d+",
        text="question",
        model=r"gpt-4o(-mini)?",
        schema="Grade",
        predicate=lambda request: request.body.get("temperature") == 0,
    ).reply({"grade": "A"})
    good = dict(model="gpt-4o-mini", temperature=0, response_format=schema_format({}, "Grade"))
    messages = [("system", "You grade answers."), ("user", "question 1, answer: 42")]
    assert model(chat(*messages, **good)).content == {"grade": "A"}
    variations: list[tuple[list[tuple[str, Any]], dict[str, Any]]] = [
        ([("system", "You are nice."), messages[1]], good),
        ([messages[0], ("user", "question 1, answer: none")], good),
        ([messages[0], ("user", "answer: 42")], good),
        (messages, {**good, "model": "gpt-4o-mini-2"}),  # the model must match entirely
        (messages, {**good, "response_format": schema_format({}, "Other")}),
        (messages, {**good, "temperature": 1}),
    ]
    for variant_messages, extra in variations:
        assert model(chat(*variant_messages, **extra)).content != {"grade": "A"}
    assert rule.hits == 1


def test_patterns_are_searched_with_dotall_and_may_be_compiled() -> None:
    model = ScriptedModel()
    model.when(user="start.*end").reply("dotall")
    model.when(user=re.compile("CASE", re.IGNORECASE)).reply("compiled")
    assert model(chat(("user", "start\nmiddle\nend"))).text == "dotall"
    assert model(chat(("user", "lower case"))).text == "compiled"
    with pytest.raises(TypeError, match="regular expression"):
        model.when(user=42)  # type: ignore[arg-type]


def test_callable_replies_and_fall_through() -> None:
    model = ScriptedModel()
    picky = model.when().reply(lambda r: "short" if len(r.user) < 5 else None)
    fallback = model.when().reply(lambda r: Reply({"length": len(r.user)}, latency=0.5))
    assert model(chat(("user", "hi"))).text == "short"
    long = model(chat(("user", "a longer one")))
    assert long.text == '{"length": 12}' and long.latency == 0.5
    assert (picky.hits, fallback.hits) == (1, 1)  # returning None is not a hit


def test_times_limits_a_rule_then_the_next_one_answers() -> None:
    model = ScriptedModel()
    model.when(user="retry").reply("not json", times=2)
    model.when(user="retry").reply({"ok": True})
    answers = [model(chat(("user", "retry"))).text for _ in range(4)]
    assert answers == ["not json", "not json", '{"ok": true}', '{"ok": true}']


def test_rule_latency_applies_unless_the_reply_sets_its_own() -> None:
    model = ScriptedModel()
    model.when(user="a").reply("A", latency=0.25)
    model.when(user="b").reply(Reply("B", latency=0.0, status=201), latency=0.25)
    assert model(chat(("user", "a"))).latency == 0.25
    b = model(chat(("user", "b")))
    assert (b.latency, b.status) == (0.0, 201)


def test_rule_without_reply_is_an_error_when_it_matches() -> None:
    model = ScriptedModel()
    model.when(user="forgotten")
    assert model(chat(("user", "other"))).text == "[scripted] other"
    with pytest.raises(RuntimeError, match=r"no reply; call \.reply"):
        model(chat(("user", "forgotten")))


def test_reply_and_rule_arguments_are_validated() -> None:
    with pytest.raises(ValueError, match="unknown usage keys"):
        Reply("x", usage={"tokens": 3})
    with pytest.raises(ValueError, match="latency"):
        Reply("x", latency=-1)
    with pytest.raises(ValueError, match="status"):
        Reply("x", status=99)
    with pytest.raises(TypeError, match="str, dict or list"):
        Reply(3)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="times"):
        ScriptedModel().when().reply("x", times=0)
    model = ScriptedModel()
    model.when().reply(lambda request: 3)  # type: ignore[arg-type,return-value]
    with pytest.raises(TypeError, match="str, dict, list or Reply"):
        model(chat(("user", "x")))


def test_defaults_and_clear() -> None:
    model = ScriptedModel(default={"fallback": True})
    model.when(user="x").reply("rule")
    assert model(chat(("user", "x"))).text == "rule"
    model.clear()
    assert model.rules == ()
    assert model(chat(("user", "x"))).content == {"fallback": True}
    model.default = lambda request: None
    assert model(chat(("user", "x"))).text == "[scripted] x"
    assert repr(model) == "ScriptedModel(rules=[])"


def test_repr_names_the_conditions() -> None:
    model = ScriptedModel()

    def long_question(request: ChatRequest) -> bool:
        return len(request.user) > 100

    rule = model.when(user="why", schema="S", predicate=long_question)
    assert repr(rule) == "Rule(user='why', schema='S', predicate=long_question, hits=0)"


# -- defaults and usage ----------------------------------------------------------------------------


def test_default_content() -> None:
    assert default_content(chat(("user", "x" * 300))) == "[scripted] " + "x" * 200
    assert default_content(chat(("system", "only a system prompt"))) == "[scripted]"
    assert default_content(chat(("user", "x"), response_format={"type": "json_object"})) == "{}"
    assert default_content(chat(("user", "x"), response_format={"type": "text"})) == "[scripted] x"
    no_schema = {"type": "json_schema", "json_schema": {"name": "Anything"}}
    assert default_content(chat(("user", "x"), response_format=no_schema)) == "{}"


def test_estimate_tokens() -> None:
    assert [estimate_tokens("x" * n) for n in (0, 1, 4, 5, 8, 9)] == [1, 1, 1, 2, 2, 3]


# -- schema-valid instances ------------------------------------------------------------------------


def test_example_for_a_typical_structured_output_schema() -> None:
    schema = {
        "type": "object",
        "properties": {
            "verdict": {"type": "string", "enum": ["pass", "fail"]},
            "score": {"type": "integer", "minimum": 1, "maximum": 10},
            "ratio": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
            "kind": {"const": "review"},
            "feedback": {"type": "string", "minLength": 30},
            "code": {"type": "string", "maxLength": 3},
            "when": {"type": "string", "format": "date-time"},
            "ok": {"type": "boolean"},
            "notes": {"type": ["string", "null"]},
            "tags": {"type": "array", "items": {"type": "string"}, "minItems": 2},
            "none": {"type": "array", "items": {"type": "integer"}, "maxItems": 0},
            "pair": {
                "type": "array",
                "prefixItems": [{"type": "integer"}, {"type": "boolean"}],
                "items": False,
                "minItems": 2,
            },
            "nothing": {"type": "null"},
        },
        "required": ["verdict", "score", "ratio", "kind", "feedback", "ok", "notes", "tags"],
        "additionalProperties": False,
    }
    value = check_example(schema)
    assert value["verdict"] == "pass"
    assert value["score"] == 1
    assert 0 < value["ratio"] < 1
    assert value["kind"] == "review"
    assert value["when"] == "1970-01-01T00:00:00Z"
    assert value["ok"] is False
    assert value["notes"] == "[scripted] notes"
    assert value["tags"] == ["[scripted] tags 1", "[scripted] tags 2"]
    assert value["none"] == [] and value["pair"] == [0, False] and value["nothing"] is None


def test_example_follows_refs_and_combinators() -> None:
    schema = {
        "$defs": {
            "Step": {
                "type": "object",
                "properties": {"explanation": {"type": "string"}, "output": {"type": "integer"}},
                "required": ["explanation", "output"],
                "additionalProperties": False,
            },
            "Color": {"enum": ["red", "green"]},
            "Named": {"type": "object", "properties": {"name": {"type": "string"}}},
        },
        "definitions": {"Legacy": {"type": "integer", "minimum": 3, "multipleOf": 2}},
        "type": "object",
        "properties": {
            "steps": {"type": "array", "items": {"$ref": "#/$defs/Step"}},
            "color": {"$ref": "#/$defs/Color"},
            "legacy": {"$ref": "#/definitions/Legacy"},
            "either": {"anyOf": [{"type": "integer", "minimum": 5}, {"type": "null"}]},
            "one": {"oneOf": [{"type": "string"}, {"type": "integer"}]},
            "both": {
                "allOf": [
                    {"$ref": "#/$defs/Named"},
                    {"properties": {"extra": {"type": "boolean"}}, "required": ["extra"]},
                ]
            },
        },
        "required": ["steps", "color", "legacy", "either", "one", "both"],
    }
    value = check_example(schema)
    assert value["steps"] == [{"explanation": "[scripted] explanation", "output": 0}]
    assert value["color"] == "red"
    assert value["legacy"] == 4
    assert value["either"] == 5
    assert value["one"] == "[scripted] one"
    assert value["both"] == {"name": "[scripted] name", "extra": False}


def test_recursive_schemas_terminate() -> None:
    tree = {
        "$defs": {
            "Node": {
                "type": "object",
                "properties": {
                    "name": {"type": "string"},
                    "children": {"type": "array", "items": {"$ref": "#/$defs/Node"}},
                    "parent": {"anyOf": [{"$ref": "#/$defs/Node"}, {"type": "null"}]},
                },
                "required": ["name", "children", "parent"],
            }
        },
        "$ref": "#/$defs/Node",
    }
    value = check_example(tree)
    assert value["children"][0]["children"] == []
    linked = {  # the root pointer "#" refers to the whole schema
        "type": "object",
        "properties": {
            "value": {"type": "integer"},
            "next": {"anyOf": [{"$ref": "#"}, {"type": "null"}]},
        },
        "required": ["value", "next"],
    }
    assert check_example(linked) == {
        "value": 0,
        "next": {"value": 0, "next": {"value": 0, "next": None}},
    }


def test_unresolvable_or_infinite_schemas_are_errors() -> None:
    with pytest.raises(ValueError, match="does not resolve"):
        example_for_schema({"$ref": "#/$defs/Missing"})
    with pytest.raises(ValueError, match="only local"):
        example_for_schema({"$ref": "https://example.com/schema.json"})
    infinite = {
        "type": "object",
        "properties": {"again": {"$ref": "#"}},
        "required": ["again"],
    }
    with pytest.raises(ValueError, match="no finite instance"):
        example_for_schema(infinite)


def test_empty_schema_gives_null() -> None:
    assert example_for_schema({}) is None


def leaf_schemas() -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.just({"type": "string"}),
        st.builds(
            lambda low, extra: {"type": "string", "minLength": low, "maxLength": low + extra},
            st.integers(0, 40),
            st.integers(0, 40),
        ),
        st.builds(
            lambda low, width: {"type": "integer", "minimum": low, "maximum": low + width},
            st.integers(-100, 100),
            st.integers(0, 10),
        ),
        st.builds(
            lambda low, width: {"type": "number", "exclusiveMinimum": low, "maximum": low + width},
            st.floats(-1000, 1000),
            st.floats(0.5, 10),
        ),
        st.just({"type": "boolean"}),
        st.just({"type": "null"}),
        st.lists(st.text(max_size=5), min_size=1, max_size=3).map(lambda values: {"enum": values}),
        st.integers().map(lambda value: {"const": value}),
    )


def compound(children: st.SearchStrategy[dict[str, Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.one_of(
        st.lists(children, min_size=1, max_size=3).map(lambda options: {"anyOf": options}),
        st.builds(
            lambda item, low: {"type": "array", "items": item, "minItems": low},
            children,
            st.integers(0, 3),
        ),
        st.dictionaries(st.text(min_size=1, max_size=8), children, max_size=4).map(
            lambda properties: {
                "type": "object",
                "properties": properties,
                "required": sorted(properties),
                "additionalProperties": False,
            }
        ),
    )


@settings(max_examples=150)
@given(st.recursive(leaf_schemas(), compound, max_leaves=12))
def test_examples_are_valid_for_generated_schemas(schema: dict[str, Any]) -> None:
    check_example(schema)
