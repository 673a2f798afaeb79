"""Gradient previews show the feedback, not the text afnio wraps it in."""

from __future__ import annotations

import afnio
from afnio.cognitive import functional as F
from afnio_widgets import GraphView


def test_a_leaf_under_two_adds_previews_the_feedback_itself():
    draft = afnio.Variable("first draft", role="draft", requires_grad=True)
    note = afnio.Variable("note", role="note")
    y = (draft + note) + afnio.Variable("!", role="mark")
    view = GraphView(y)  # before backward: its hooks see the gradients along edges
    y.backward(afnio.Variable("Be much shorter.", role="feedback"))
    assert draft.grad[0].data.startswith("Here is the combined feedback")  # what afnio sends
    view.refresh()
    node = view.graph["nodes"][[n["id"] for n in view.graph["nodes"]].index(view.node_id(draft))]
    assert node["grad"][0]["preview"] == "Be much shorter."
    edges = [e for e in view.graph["edges"] if e["grad"]]
    assert edges and all(g["preview"] == "Be much shorter." for e in edges for g in e["grad"])
    view.close()


def test_a_batch_previews_each_samples_feedback():
    prompt = afnio.Variable("Answer.", role="instruction", requires_grad=True)
    batch = F.sum([prompt + afnio.Variable(q, role="question") for q in ("a", "b")])
    batch.backward(afnio.Variable("Require a one-word answer.", role="feedback"))
    view = GraphView(batch)
    node = next(n for n in view.graph["nodes"] if n["id"] == view.node_id(prompt))
    assert all(g["preview"].startswith("Require a one-word answer.") for g in node["grad"])
    view.close()
