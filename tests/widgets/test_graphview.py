"""GraphView with a dummy comm: snapshots, patches, backward progress, live tracing, closing."""

from __future__ import annotations

import threading
import time

import pytest

import afnio
import afnio.cognitive.functional as F
import afnio_widgets
from afnio_widgets import GraphView
from afnio_widgets._graph import wire


def chain(n, start=None):
    x = start or afnio.Variable("a", role="x", requires_grad=True)
    for i in range(n):
        x = x + afnio.Variable(f"q{i}", role="question")
    return x


def test_ready_gets_a_snapshot_of_the_whole_graph(comm_of):
    y = chain(3)
    view = GraphView(y, title="chain")
    c = comm_of(view)
    c.receive({"type": "ready", "rev": 0})
    (snapshot,) = [m for m in c.custom() if m["type"] == "snapshot"]
    assert snapshot["rev"] == 0
    assert len(snapshot["graph"]["nodes"]) == len(view.graph["nodes"]) == 3 * 3 + 2
    assert snapshot["graph"]["roots"] == [view.node_id(y)]
    view.close()


def test_backward_lights_nodes_and_puts_gradients_on_edges(comm_of):
    x = afnio.Variable("draft", role="draft", requires_grad=True)
    y = x + afnio.Variable("!", role="mark")
    view = GraphView(y)
    c = comm_of(view)
    y.backward(afnio.Variable("be brief", role="feedback"))
    view.flush()
    patches = [m for m in c.custom() if m["type"] == "patch"]
    states = {n["id"]: n["state"] for p in patches for n in p["nodes"] if "state" in n}
    assert states[view.node_id(y.grad_fn)] == "done"
    assert patches[-1]["backward"]["status"] == "done"
    final = view.graph
    add = view.node_id(y.grad_fn)
    to_x = next(e for e in final["edges"] if e["source"] == add and e["index"] == 0)
    assert "be brief" in to_x["grad"][0]["data"] and to_x["grad"][0]["backward_id"]
    root = next(n for n in final["nodes"] if n["id"] == view.node_id(y))
    assert root["grad"][0]["data"] == "be brief"  # the non-leaf root's gradient, from a hook
    leaf = next(n for n in final["nodes"] if n["id"] == view.node_id(x))
    assert leaf["grad"][0]["data"] == x.grad[0].data
    view.close()


def test_patches_replayed_equal_the_snapshot(comm_of, apply_messages):
    x = afnio.Variable("a", role="x", requires_grad=True)
    view = GraphView(None, live=True)
    c = comm_of(view)
    c.receive({"type": "ready", "rev": 0})
    y = chain(20, x)
    view.flush()
    y.backward(afnio.Variable("fb", role="feedback"))
    view.flush()
    replayed = apply_messages(c.custom())
    final = view.graph
    assert replayed["nodes"] == {n["id"]: wire(n) for n in final["nodes"]}
    assert replayed["edges"] == {e["id"]: wire(e) for e in final["edges"]}
    view.close()


def test_a_loop_of_5000_operations_sends_a_bounded_number_of_messages(comm_of):
    x = afnio.Variable("a", role="x", requires_grad=True)
    started = time.monotonic()
    with afnio_widgets.trace(display=False) as view:
        for i in range(5000):
            _ = x + afnio.Variable(f"question {i}", role="question")
    elapsed = time.monotonic() - started
    messages = comm_of(view).custom()
    # at most one patch per interval (0.05 s here), plus the final flush
    assert len(messages) <= elapsed / 0.05 + 3
    assert len(view.graph["nodes"]) == 5000 * 3 + 2
    assert not view.live
    # the view stops adding operations after the block
    _ = x + x
    assert len(view.graph["nodes"]) == 5000 * 3 + 2
    view.close()


def test_events_from_other_threads_are_safe(comm_of, apply_messages):
    view = GraphView(None, live=True)
    errors = []

    def work():
        try:
            for _ in range(300):
                chain(1)
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    view.flush()
    assert not errors
    assert sum(n.get("name") == "AddBackward0" for n in view.graph["nodes"]) == 1200
    replayed = apply_messages(comm_of(view).custom())
    assert len(replayed["nodes"]) == len(view.graph["nodes"])
    view.close()


def test_no_grad_operations_are_marked_in_a_live_view():
    x = afnio.Variable("a", role="x", requires_grad=True)
    with afnio_widgets.trace(display=False) as view, afnio.no_grad():
        y = x + x
    node = next(n for n in view.graph["nodes"] if n["id"] == view.node_id(y))
    assert node["no_grad"] and not node["requires_grad"]
    op = next(n for n in view.graph["nodes"] if n["kind"] == "function")
    assert op["no_grad"] and op["name"] == "AddBackward0"
    view.close()


def test_details_returns_the_uncut_node(comm_of):
    long = afnio.Variable("w " * 5000, role="long", requires_grad=True)
    view = GraphView(long + long)
    c = comm_of(view)
    c.receive({"type": "ready", "rev": 0})
    snapshot = c.custom()[-1]
    sent = next(n for n in snapshot["graph"]["nodes"] if n.get("role") == "long")
    assert sent["partial"] and len(sent["data"]) == 2000
    c.receive({"type": "details", "id": sent["id"]})
    details = c.custom()[-1]
    assert details["type"] == "details" and details["item"]["data"] == long.data
    view.close()


def test_close_stops_observing_and_removes_hooks():
    x = afnio.Variable("a", role="x", requires_grad=True)
    y = x + x
    view = GraphView(y)
    view.close()
    assert view.comm is None
    y.backward(afnio.Variable("fb"))  # the removed hooks and observer are not called
    assert view.graph["nodes"] == [] or all(
        n.get("state", "idle") == "idle" for n in view.graph["nodes"]
    )


def test_selected_and_options_are_synced_traits(comm_of):
    view = GraphView(chain(1), height=300, max_nodes=50, title="t")
    c = comm_of(view)
    c.update({"selected": "n0"})
    assert view.selected == "n0"
    view.selected = "n1"
    assert any(m.get("method") == "update" and m["state"].get("selected") == "n1" for m in c.sent)
    assert (view.height, view.max_nodes, view.title, view.live, view.editable) == (
        300,
        50,
        "t",
        False,
        True,
    )
    view.close()


def test_bad_arguments_explain_themselves():
    with pytest.raises(TypeError, match="root"):
        GraphView("loss")  # type: ignore[arg-type]
    with pytest.raises(TypeError):
        GraphView(None, colour="red")  # type: ignore[call-arg]


def test_model_calls_appear_on_their_node(openai_env):
    from afnio.models import AsyncOpenAI

    openai_env.script.when(user="capital of France").reply("Paris")
    model = AsyncOpenAI(base_url=openai_env.base_url, api_key=openai_env.api_key)
    task = afnio.Variable("What is the capital of {country}?", role="question", requires_grad=True)
    with afnio_widgets.trace(display=False) as view:
        answer = F.chat_completion(
            model,
            [{"role": "user", "content": [task]}],
            inputs={"country": "France"},
            model="gpt-4o-mini",
        )
    node = next(n for n in view.graph["nodes"] if n["id"] == view.node_id(answer.grad_fn))
    (call,) = node["calls"]
    assert call["response"] == "Paris" and call["phase"] == "forward"
    assert call["messages"][0]["content"] == "What is the capital of France?"
    assert call["usage"]["total_tokens"] > 0
    view.close()
