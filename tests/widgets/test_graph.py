"""graph_to_dict: the pure conversion from afnio graphs to the JSON contract."""

from __future__ import annotations

import json

import pytest

import afnio
import afnio.cognitive.functional as F
from afnio.autodiff.function import Function
from afnio.cognitive import Parameter
from afnio_widgets import graph_to_dict
from afnio_widgets._graph import MAX_TEXT, call_to_dict, json_safe, preview, wire

VARIABLE_KEYS = {
    "id", "kind", "role", "data", "preview", "dtype", "shape", "batch", "requires_grad",
    "is_leaf", "is_parameter", "retains_grad", "grad", "truncated", "is_root", "no_grad",
    "toggle_error",
}  # fmt: skip
FUNCTION_KEYS = {
    "id",
    "kind",
    "name",
    "sequence_nr",
    "accumulate",
    "no_grad",
    "group",
    "calls",
    "state",
}
EDGE_KEYS = {"id", "source", "target", "kind", "index", "output_nr", "requires_grad", "grad"}


def by_label(graph):
    return {n.get("name") or n["role"]: n for n in graph["nodes"]}


def edges_between(graph, source, target):
    return [e for e in graph["edges"] if e["source"] == source and e["target"] == target]


def test_add_graph_follows_next_functions():
    x = afnio.Variable("Hi", role="greeting", requires_grad=True)
    y = afnio.Variable("!", role="mark")
    z = x + y
    graph = graph_to_dict(z)
    assert graph["format"] == "afnio-graph" and graph["version"] == 1
    nodes = by_label(graph)
    root, add, acc = nodes["greeting and mark"], nodes["AddBackward0"], nodes["AccumulateGrad"]
    assert graph["roots"] == [root["id"]] and root["is_root"]
    assert not root["is_leaf"] and root["requires_grad"]
    assert nodes["greeting"]["is_leaf"] and nodes["greeting"]["requires_grad"]
    assert not nodes["mark"]["requires_grad"]
    assert acc["accumulate"] and not add["accumulate"]
    (out,) = edges_between(graph, root["id"], add["id"])
    assert out["kind"] == "output" and out["output_nr"] == 0
    (to_x,) = edges_between(graph, add["id"], nodes["greeting"]["id"])
    assert (to_x["kind"], to_x["index"], to_x["requires_grad"]) == ("input", 0, True)
    (to_y,) = edges_between(graph, add["id"], nodes["mark"]["id"])
    assert (to_y["index"], to_y["requires_grad"]) == (1, False)
    assert edges_between(graph, nodes["greeting"]["id"], acc["id"])
    assert [n["id"] for n in graph["nodes"]] == [f"n{i}" for i in range(len(graph["nodes"]))]


def test_every_node_and_edge_has_the_documented_keys():
    x = Parameter("p", role="prompt")
    graph = graph_to_dict(F.sum([x, afnio.Variable(["a", "b"][0], role="c")]))
    for node in graph["nodes"]:
        expected = VARIABLE_KEYS if node["kind"] == "variable" else FUNCTION_KEYS
        assert set(node) == expected
    for edge in graph["edges"]:
        assert set(edge) == EDGE_KEYS
    json.dumps(graph)


def test_split_outputs_carry_their_output_nr():
    text = afnio.Variable("a b c", role="sentence", requires_grad=True)
    first, second, third = F.split(text, " ")
    graph = graph_to_dict([third, first])
    nodes = {n["id"]: n for n in graph["nodes"]}
    split = next(n for n in graph["nodes"] if n.get("name") == "SplitBackward0")
    outputs = sorted(
        (e["output_nr"], nodes[e["source"]]["data"])
        for e in graph["edges"]
        if e["target"] == split["id"] and e["kind"] == "output"
    )
    assert outputs == [(0, "a"), (2, "c")]
    assert len(graph["roots"]) == 2


def test_function_with_two_outputs_and_a_consumer():
    class Pair(Function):
        @staticmethod
        def forward(ctx, x):
            return afnio.Variable(x.data + "1", role="one"), afnio.Variable(
                x.data + "2", role="two"
            )

        @staticmethod
        def backward(ctx, g1, g2):
            return afnio.Variable("g", role="feedback")

    x = afnio.Variable("x", role="x", requires_grad=True)
    one, two = Pair.apply(x)
    z = two + afnio.Variable("!", role="mark")
    graph = graph_to_dict(z)
    nodes = by_label(graph)
    (edge_in,) = edges_between(graph, nodes["AddBackward0"]["id"], nodes["two"]["id"])
    (edge_out,) = edges_between(graph, nodes["two"]["id"], nodes["PairBackward0"]["id"])
    assert edge_in["output_nr"] == edge_out["output_nr"] == 1
    assert "one" not in nodes  # not on a path from the root


def test_batches_parameters_and_shapes():
    batch = afnio.Variable(["first item", "second"], role="questions", requires_grad=True)
    prompt = Parameter("Answer.", role="system prompt")
    graph = graph_to_dict(
        batch + afnio.Variable(["x", "y"], role="s") + afnio.Variable([prompt.data] * 2)
    )
    nodes = by_label(graph)
    assert nodes["questions"]["batch"] == 2 and nodes["questions"]["dtype"] == "list"
    assert nodes["questions"]["preview"] == "[2 items] first item"
    assert nodes["questions"]["shape"] == "(2,)"
    graph = graph_to_dict(prompt + prompt)
    assert by_label(graph)["system prompt"]["is_parameter"]


def test_a_chain_of_thousands_of_operations_does_not_recurse():
    x = afnio.Variable("a", role="x", requires_grad=True)
    for _ in range(3000):
        x = x + afnio.Variable("b", role="y")
    graph = graph_to_dict(x)
    assert sum(n["kind"] == "function" for n in graph["nodes"]) == 3001


def test_leaf_gradients_after_backward():
    x = afnio.Variable("draft", role="draft", requires_grad=True)
    y = F.sum([x, x])
    y.backward(afnio.Variable("be brief", role="feedback"))
    node = by_label(graph_to_dict(y))["draft"]
    assert len(node["grad"]) == 2
    assert node["grad"][0]["role"] == "feedback to draft"
    assert "be brief" in node["grad"][0]["data"]


def test_graph_of_nothing_and_bad_roots():
    assert graph_to_dict(None)["nodes"] == []
    with pytest.raises(TypeError, match="GraphView\\(loss\\)"):
        graph_to_dict("not a variable")  # type: ignore[arg-type]


def test_json_safe_cuts_and_cleans():
    assert json_safe(float("inf")) == ("inf", False)
    text, cut = json_safe("x" * (MAX_TEXT + 5))
    assert cut and len(text) == MAX_TEXT
    assert json_safe({1: {2, 3}}) in (({"1": [2, 3]}, False), ({"1": [3, 2]}, False))
    assert json_safe(object())[0].startswith("<object object")


def test_preview_and_wire():
    assert preview("  a\n\n b  ") == "a b"
    assert preview(None) == "None"
    assert preview([None, "x"]) == "[2 items] x"
    node = wire({"id": "n0", "data": ["y" * 3000], "grad": []})
    assert node["partial"] and len(node["data"][0]) == 2000
    assert wire({"id": "n1", "data": "short"})["partial"] is False


def test_call_records():
    from afnio.models.records import ModelCall

    call = ModelCall(
        provider="openai",
        model="gpt-4o",
        messages=[{"role": "user", "content": "Hi"}],
        response="Hello!",
        usage={"total_tokens": 5},
        cost=0.001,
    )
    data = call_to_dict(call)
    assert data["response"] == "Hello!" and data["usage"] == {"total_tokens": 5}
    assert call_to_dict("odd") == {"repr": "'odd'"}
