"""GraphView with a dummy comm: the graph trait, backward progress, live tracing, closing."""

from __future__ import annotations

import itertools
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


def test_the_graph_trait_holds_the_whole_graph_from_the_start(comm_of):
    y = chain(3)
    view = GraphView(y, title="chain")
    (opened,) = comm_of(view).graphs()  # sent with the widget, before any request
    assert opened == view.graph
    assert len(opened["nodes"]) == 3 * 3 + 2
    assert opened["roots"] == [view.node_id(y)]
    assert opened["format"] == "afnio-graph" and opened["backward"]["status"] == "idle"
    view.close()


def test_backward_lights_nodes_and_puts_gradients_on_edges(comm_of):
    x = afnio.Variable("draft", role="draft", requires_grad=True)
    y = x + afnio.Variable("!", role="mark")
    view = GraphView(y)
    c = comm_of(view)
    y.backward(afnio.Variable("be brief", role="feedback"))
    # published before backward() returned: no flush needed
    final = c.graphs()[-1]
    assert final == view.graph
    add = view.node_id(y.grad_fn)
    assert next(n for n in final["nodes"] if n["id"] == add)["state"] == "done"
    assert final["backward"]["status"] == "done"
    to_x = next(e for e in final["edges"] if e["source"] == add and e["index"] == 0)
    assert "be brief" in to_x["grad"][0]["data"] and to_x["grad"][0]["backward_id"]
    root = next(n for n in final["nodes"] if n["id"] == view.node_id(y))
    assert root["grad"][0]["data"] == "be brief"  # the non-leaf root's gradient, from a hook
    leaf = next(n for n in final["nodes"] if n["id"] == view.node_id(x))
    assert leaf["grad"][0]["data"] == x.grad[0].data
    view.close()


def test_the_published_graph_converges_to_the_kernels(comm_of):
    x = afnio.Variable("a", role="x", requires_grad=True)
    view = GraphView(None, live=True)
    c = comm_of(view)
    y = chain(20, x)
    view.flush()
    y.backward(afnio.Variable("fb", role="feedback"))
    full = view.to_dict()
    published = c.graphs()[-1]
    assert published["nodes"] == [wire(n) for n in full["nodes"]]
    assert published["edges"] == [wire(e) for e in full["edges"]]
    assert published["roots"] == full["roots"] and published["backward"] == full["backward"]
    view.close()


def test_a_loop_of_5000_operations_publishes_a_bounded_number_of_times(comm_of):
    x = afnio.Variable("a", role="x", requires_grad=True)
    started = time.monotonic()
    with afnio_widgets.trace(display=False) as view:
        for i in range(5000):
            _ = x + afnio.Variable(f"question {i}", role="question")
    elapsed = time.monotonic() - started
    updates = comm_of(view).graphs()
    # at most one update per interval (0.05 s here), plus the first and the final flush
    assert len(updates) <= elapsed / 0.05 + 3
    assert len(updates[-1]["nodes"]) == len(view.graph["nodes"]) == 5000 * 3 + 2
    assert not view.live
    # the view stops adding operations after the block
    _ = x + x
    view.flush()
    assert len(view.graph["nodes"]) == 5000 * 3 + 2
    view.close()


def test_publishing_a_large_graph_slows_the_updates_down():
    from afnio_widgets._sync import Throttle

    calls: list[float] = []

    def slow() -> None:
        calls.append(time.monotonic())
        time.sleep(0.05)

    throttle = Throttle(slow, interval=0.01)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        throttle.poke()
        time.sleep(0.002)
    throttle.close()
    gaps = [b - a for a, b in itertools.pairwise(calls)]
    # each flush takes 0.05 s, so the next one waits at least 3 x 0.05 s after it ends
    assert gaps and min(gaps) >= 0.05 + 3 * 0.05 - 0.01


def test_events_from_other_threads_are_safe(comm_of):
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
    assert comm_of(view).graphs()[-1] == view.graph
    assert len(view.graph["nodes"]) == len(view.to_dict()["nodes"])
    view.close()


def test_a_flush_after_every_cell_publishes_what_is_pending(comm_of):
    from afnio_widgets._sync import flush_all

    x = afnio.Variable("a", role="x", requires_grad=True)
    view = GraphView(None, live=True)
    view._throttle.interval = 3600.0  # no timer flush during this test
    view.flush()
    _ = x + x
    before = len(comm_of(view).graphs())
    flush_all()  # what IPython's post_run_cell runs
    assert len(comm_of(view).graphs()) == before + 1
    assert len(view.graph["nodes"]) == 4
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
    sent = next(n for n in c.graphs()[-1]["nodes"] if n.get("role") == "long")
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
    assert all(n.get("state", "idle") == "idle" for n in view.to_dict()["nodes"])


def test_a_ping_is_answered_so_the_view_knows_a_kernel_is_there(comm_of):
    view = GraphView(chain(1))
    c = comm_of(view)
    c.receive({"type": "ping"})
    assert c.custom() == [{"type": "pong"}]
    view.close()


def test_views_share_one_bundle_model_and_carry_only_a_small_loader(comm_of):
    a, b = GraphView(chain(1)), GraphView(chain(2))
    training = afnio_widgets.TrainingView(track_calls=False)
    assert a._bundle is b._bundle and a._bundle.name == "widget.js"
    assert training._bundle is not a._bundle and training._bundle.name == "training.js"
    state = comm_of(a).opened
    assert state["_bundle"] == f"IPY_MODEL_{a._bundle.model_id}"
    assert len(state["_esm"]) < 4_000 < len(a._bundle.code)
    for widget in (a, b, training):
        widget.close()


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
