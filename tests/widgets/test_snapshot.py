"""JSON snapshots: a graph with its gradients and model calls reopens without any model."""

from __future__ import annotations

import json

import pytest

import afnio
import afnio.cognitive.functional as F
from afnio_widgets import GraphView, load_graph, to_json
from afnio_widgets._graph import wire


def test_round_trip_keeps_gradients_and_calls(openai_env, backward_client, tmp_path):
    from afnio.models import AsyncOpenAI

    openai_env.script.when(user="capital").reply("Paris")
    model = AsyncOpenAI(base_url=openai_env.base_url, api_key=openai_env.api_key)
    question = afnio.Variable("What is the capital of France?", role="question", requires_grad=True)
    view = GraphView(None, live=True)
    answer = F.chat_completion(
        model, [{"role": "user", "content": [question]}], model="gpt-4o-mini"
    )
    total = F.sum([answer, afnio.Variable("!", role="mark")])
    total.backward(afnio.Variable("Answer in French.", role="feedback"))
    text = view.to_json(indent=1)
    view.close()
    requests = len(openai_env.requests)

    path = tmp_path / "graph.json"
    path.write_text(text, encoding="utf-8")
    reopened = GraphView.from_json(path)
    assert reopened.to_dict() == json.loads(text)
    # the reopened view draws the same graph, from the same synced trait as a live view
    assert reopened.graph["nodes"] == [wire(n) for n in json.loads(text)["nodes"]]
    assert len(openai_env.requests) == requests  # reopening called no model
    nodes = reopened.graph["nodes"]
    chat = next(n for n in nodes if n.get("name") == "ChatCompletionBackward0")
    assert chat["calls"][0]["response"] == "Paris"
    assert any(e["grad"] for e in reopened.graph["edges"])
    assert not reopened.editable
    reopened.close()


def test_to_json_of_a_variable_and_load_checks():
    x = afnio.Variable("a", role="x", requires_grad=True)
    graph = load_graph(to_json(x + x))
    assert [n["kind"] for n in graph["nodes"]] == ["variable", "function", "function", "variable"]
    with pytest.raises(ValueError, match="afnio-graph"):
        load_graph('{"format": "other"}')
    with pytest.raises(ValueError, match="version 99"):
        load_graph('{"format": "afnio-graph", "version": 99}')
    with pytest.raises(ValueError, match="missing"):
        load_graph(
            '{"format": "afnio-graph", "version": 1, "nodes": [], '
            '"edges": [{"id": "e0", "source": "n0", "target": "n1"}]}'
        )
    with pytest.raises(ValueError, match="Not a JSON"):
        load_graph("{")
