"""The engine's visit order is part of a view's graph (``backward.steps``), so a view (and a
saved snapshot of it) can replay the pass."""

from __future__ import annotations

import afnio
import afnio.cognitive.functional as F
from afnio_widgets import GraphView, load_graph, to_json


def test_steps_follow_the_engine_and_restart_with_each_pass():
    prompt = afnio.Variable("Answer.", role="instruction", requires_grad=True)
    total = F.sum([prompt + afnio.Variable(q, role="question") for q in "abc"])
    view = GraphView(total)
    total.backward(afnio.Variable("Be brief.", role="feedback"), retain_graph=True)
    backward = view.graph["backward"]
    steps = backward["steps"]
    names = [view._state.node(s["node"])["name"] for s in steps]
    assert names[0] == "SumBackward0" and names[-1] == "AccumulateGrad"
    assert sorted(names[1:-1]) == ["AddBackward0"] * 3
    assert len(steps) == backward["visited"] == 5
    ticks = [t for s in steps for t in (s["start"], s["end"])]
    assert all(s["start"] < s["end"] for s in steps)
    assert sorted(ticks) == list(range(1, 11)) and backward["clock"] == 10

    # the order survives a snapshot, for a saved notebook's replay
    assert load_graph(to_json(view))["backward"]["steps"] == steps

    total.backward(afnio.Variable("Be briefer.", role="feedback"))
    again = view.graph["backward"]
    assert again["id"] != backward["id"] and len(again["steps"]) == 5
    assert again["steps"][0]["start"] == 1
    view.close()
