"""GraphState and the module layout of afnio_widgets: gradient pass labels, a pure
graph_to_dict, no import cycles, no private names imported across modules."""

from __future__ import annotations

import ast
import gc
from pathlib import Path

import afnio
from afnio_widgets import GraphView, graph_to_dict
from afnio_widgets import _state as state_module
from afnio_widgets._state import GradientPasses

PACKAGE = Path(__file__).resolve().parents[2] / "afnio_widgets"


def test_a_reused_id_does_not_label_a_gradient_with_an_old_pass():
    x = afnio.Variable("draft", role="draft", requires_grad=True)
    y = x + afnio.Variable("!", role="mark")
    view = GraphView(y)
    y.backward(afnio.Variable("shorter", role="feedback"))
    leaf = view.node_id(x)
    labelled = next(n for n in view.graph["nodes"] if n["id"] == leaf)["grad"][0]["backward_id"]
    assert labelled is not None
    old_id = id(x.grad[0])
    x.grad = []
    gc.collect()
    # Try for a new Variable at the address of the dropped gradient (CPython's allocator often
    # reuses it); whether or not it gets that address, it must not inherit the old pass.
    kept = []
    candidate = afnio.Variable.__new__(afnio.Variable)
    for _ in range(20_000):
        if id(candidate) == old_id:
            break
        kept.append(candidate)
        candidate = afnio.Variable.__new__(afnio.Variable)
    candidate.__init__("written by hand", role="feedback")
    x.grad = [candidate]
    view.refresh()
    grad = next(n for n in view.graph["nodes"] if n["id"] == leaf)["grad"]
    assert [g["data"] for g in grad] == ["written by hand"]
    assert grad[0]["backward_id"] is None  # not the pass of the gradient that lived there
    view.close()


def test_an_object_at_a_gradients_address_is_not_taken_for_it(monkeypatch):
    # Every object at one address: the deterministic form of an id() reused while an entry
    # still exists.
    monkeypatch.setattr(state_module, "id", lambda obj: 1, raising=False)
    passes = GradientPasses()
    gradient = afnio.Variable("shorter", role="feedback")
    written_by_hand = afnio.Variable("written by hand", role="feedback")
    passes.put(gradient, 3)
    assert passes.get(gradient) == 3
    assert passes.get(written_by_hand) is None


def test_gradient_pass_labels_are_dropped_with_their_gradients():
    passes = GradientPasses()
    gradients = [afnio.Variable(f"g{i}") for i in range(1_000)]
    for i, g in enumerate(gradients):
        passes.put(g, i)
    assert len(passes) == 1_000 and passes.get(gradients[7]) == 7
    del g
    gradients.clear()
    gc.collect()
    assert len(passes) == 0


def test_many_backward_passes_keep_the_label_table_small():
    x = afnio.Variable("draft", role="draft", requires_grad=True)
    y = x + x
    view = GraphView(y)
    for i in range(30):
        y.backward(afnio.Variable(f"feedback {i}", role="feedback"), retain_graph=True)
        x.grad = []
    gc.collect()
    assert len(view._state._passes) <= 2  # only the gradients still alive (edge/node history)
    view.close()


def test_graph_to_dict_is_pure_and_needs_no_view_state():
    # not GraphState, nor anything of the views: only the text helpers it builds on
    imported = {module for module, _ in _imports(PACKAGE / "_graph.py")}
    assert imported <= {"afnio_widgets._preview", "afnio_widgets._feedback"}
    x = afnio.Variable("a", role="x", requires_grad=True)
    y = x + x
    assert graph_to_dict(y) == graph_to_dict(y)
    y.backward(afnio.Variable("fb"))  # no hook of graph_to_dict's is left behind to fail
    assert graph_to_dict(y)["backward"]["status"] == "idle"


def _imports(path: Path) -> list[tuple[str, list[str]]]:
    """``(module, names)`` of every ``from afnio_widgets.x import ...`` in a file, anywhere but
    under ``if TYPE_CHECKING:`` (those never run)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            skipped.update(id(child) for stmt in node.body for child in ast.walk(stmt))
    found = []
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.ImportFrom)
            and id(node) not in skipped
            and (node.module or "").startswith("afnio_widgets.")
        ):
            found.append((str(node.module), [alias.name for alias in node.names]))
    return found


def test_no_import_cycles_and_no_private_names_across_modules():
    graph: dict[str, set[str]] = {}
    private = []
    for path in sorted(PACKAGE.glob("*.py")):
        module = f"afnio_widgets.{path.stem}" if path.stem != "__init__" else "afnio_widgets"
        for imported, names in _imports(path):
            graph.setdefault(module, set()).add(imported)
            private += [f"{module}: {imported}.{n}" for n in names if n.startswith("_")]
    assert private == []

    def cycle_from(start: str, seen: tuple[str, ...]) -> tuple[str, ...] | None:
        for nxt in sorted(graph.get(start, ())):
            if nxt in seen:
                return (*seen, nxt)
            found = cycle_from(nxt, (*seen, nxt))
            if found:
                return found
        return None

    cycles = [c for m in graph if (c := cycle_from(m, (m,)))]
    assert cycles == []
    assert not (PACKAGE / "_events.py").exists()  # GraphState is one class in one file
