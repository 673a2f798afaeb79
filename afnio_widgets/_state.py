"""The kernel-side graph behind a view: the graph as built so far, how graph events and gradient
hooks change it, and the form the view's synced ``graph`` trait takes.

:class:`GraphState` is thread-safe: graph events and gradient hooks may arrive from afnio's
engine thread while the kernel thread runs operations and the throttle's timer thread publishes
the graph. It holds strong references to the Variables and nodes it shows, until :meth:`close`.
"""

from __future__ import annotations

import json
import threading
import weakref
from collections.abc import Iterable
from typing import Any

import afnio
from afnio.autodiff.graph import AccumulateGrad, GraphEvent, Node, RemovableHandle
from afnio_widgets._graph import (
    FORMAT,
    IDLE,
    MAX_GRADS,
    VERSION,
    GraphBuilder,
    NoGradOp,
    call_to_dict,
    gradient_to_dict,
    signature,
    variable_fields,
    wire,
)

__all__ = ["GradientPasses", "GraphState"]


def _compact(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


class GradientPasses:
    """Which backward pass produced each gradient Variable.

    An entry lives as long as its gradient: it is dropped when the gradient is garbage
    collected, so the table stays as small as the gradients alive, and an object that later gets
    the same ``id()`` is not mistaken for the gradient.

    Example:
        >>> passes = GradientPasses()
        >>> g = afnio.Variable("shorter", role="feedback")
        >>> passes.put(g, 3)
        >>> passes.get(g), passes.get(afnio.Variable("other")), len(passes)
        (3, None, 1)
        >>> del g
        >>> len(passes)
        0
    """

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref[Any], int]] = {}

    def put(self, gradient: afnio.Variable, backward_id: int) -> None:
        """Records that pass ``backward_id`` produced ``gradient``."""
        key = id(gradient)
        entries = self._entries

        def forget(ref: weakref.ref[Any]) -> None:
            entry = entries.get(key)
            if entry is not None and entry[0] is ref:
                entries.pop(key, None)

        entries[key] = (weakref.ref(gradient, forget), backward_id)

    def get(self, gradient: afnio.Variable) -> int | None:
        """The pass that produced ``gradient``, or ``None`` if unknown."""
        entry = self._entries.get(id(gradient))
        if entry is None or entry[0]() is not gradient:
            return None
        return entry[1]

    def __len__(self) -> int:
        return len(self._entries)


class GraphState:
    """The graph of one view, kept up to date by graph events and gradient hooks.

    Args:
        live: Add the operations announced by graph events (``node_created``,
            ``op_without_grad``) to the graph.
        hooks: Register hooks on backward nodes to capture the gradients flowing along edges.

    Example:
        >>> x = afnio.Variable("a", role="x", requires_grad=True)
        >>> state = GraphState(hooks=False)
        >>> state.add_roots([x + x])
        >>> published = state.take_published()
        >>> len(json.loads(published)["nodes"]), state.take_published()
        (4, None)
    """

    def __init__(self, *, live: bool = False, hooks: bool = True) -> None:
        self.live = live
        self._lock = threading.RLock()
        self._passes = GradientPasses()
        self._graph = GraphBuilder(
            on_function=self._register_hooks if hooks else None, pass_of=self._passes.get
        )
        self._signatures: dict[str, tuple[Any, ...]] = {}
        self._handles: list[RemovableHandle] = []
        self._backward: dict[str, Any] = dict(IDLE)
        self._active_pass: int | None = None
        self._wired: dict[str, str] = {}
        self._meta_changed = True

    # -- lookup ---------------------------------------------------------------------------------
    def id_of(self, obj: Any) -> str | None:
        """The node id of a Variable or backward node shown in this graph, else ``None``."""
        with self._lock:
            return self._graph.ids.get(id(obj))

    def node(self, node_id: str) -> dict[str, Any] | None:
        """A copy of the node dict with id ``node_id``."""
        with self._lock:
            found = self._graph.nodes.get(node_id)
            return dict(found) if found is not None else None

    def edge(self, edge_id: str) -> dict[str, Any] | None:
        """A copy of the edge dict with id ``edge_id``."""
        with self._lock:
            found = self._graph.edges.get(edge_id)
            return dict(found) if found is not None else None

    def __len__(self) -> int:
        return len(self._graph.nodes)

    # -- building -------------------------------------------------------------------------------
    def add_roots(self, roots: Iterable[afnio.Variable]) -> None:
        """Adds root Variables and their history."""
        with self._lock:
            before = len(self._graph.roots)
            self._graph.add_roots(roots)
            if len(self._graph.roots) != before:
                self._meta_changed = True

    def load(self, graph: dict[str, Any]) -> None:
        """Fills an empty state from a graph dict (a snapshot: no Variables behind it)."""
        with self._lock:
            for node in graph["nodes"]:
                self._graph.nodes[node["id"]] = dict(node)
                self._graph.changed.add(node["id"])
            for edge in graph["edges"]:
                self._graph.edges[edge["id"]] = dict(edge)
                self._graph.changed.add(edge["id"])
            self._graph.roots = list(graph.get("roots", []))
            self._backward = dict(graph.get("backward") or IDLE)
            self._meta_changed = True

    def snapshot(self) -> dict[str, Any]:
        """The whole graph as a contract dict, texts uncut (see docs/widgets.md)."""
        with self._lock:
            return self._graph.to_dict(self._backward)

    def take_published(self) -> str | None:
        """The graph as the view's synced ``graph_json`` trait holds it: the contract dict as
        JSON text, long texts cut by :func:`~afnio_widgets._graph.wire` (``partial`` marks cut
        items); or ``None`` when nothing changed since the last call.

        Only the items that changed are cut and serialized again; the text is joined from the
        others' cached JSON, so publishing a large graph costs little more than copying it.
        """
        with self._lock:
            changed = self._graph.changed
            if not changed and not self._meta_changed:
                return None
            for item_id in changed:
                item = self._graph.nodes.get(item_id) or self._graph.edges.get(item_id)
                if item is not None:
                    self._wired[item_id] = _compact(wire(item))
            changed.clear()
            self._meta_changed = False
            head = _compact(
                {
                    "format": FORMAT,
                    "version": VERSION,
                    "roots": self._graph.roots,
                    "backward": self._backward,
                }
            )
            nodes = ",".join(self._wired[i] for i in self._graph.nodes)
            edges = ",".join(self._wired[i] for i in self._graph.edges)
            return f'{head[:-1]},"nodes":[{nodes}],"edges":[{edges}]}}'

    # -- reading Variables again ----------------------------------------------------------------
    def refresh(self, force: bool = False) -> None:
        """Re-reads every Variable shown (data, role, flags, gradients).

        Args:
            force: Rebuild every field even if the cheap fingerprint (data identity, flags,
                number of gradients) did not change, e.g. after an in-place edit of list data.
        """
        with self._lock:
            for node_id, node in self._graph.nodes.items():
                if node["kind"] != "variable":
                    continue
                variable = self._graph.objects.get(node_id)
                if not isinstance(variable, afnio.Variable):
                    continue
                current = signature(variable)
                if not force and current == self._signatures.get(node_id):
                    continue
                self._signatures[node_id] = current
                fields = variable_fields(variable, self._passes.get)
                if not (variable.is_leaf or variable.retains_grad):
                    fields.pop("grad")  # non-leaf gradients come from hooks, keep them
                self._graph.set(node_id, **fields)

    # -- toggles --------------------------------------------------------------------------------
    def set_requires_grad(self, node_id: str, value: bool) -> str | None:
        """Sets ``requires_grad`` of the Variable behind ``node_id``.

        Returns:
            ``None`` on success, else afnio's error message (also stored in the node's
            ``toggle_error`` field so that the panel shows it).
        """
        with self._lock:
            variable = self._graph.objects.get(node_id)
            if not isinstance(variable, afnio.Variable):
                error: str | None = f"No Variable with id {node_id!r} in this graph."
            else:
                try:
                    variable.requires_grad = bool(value)
                    error = None
                except (RuntimeError, TypeError) as exc:
                    error = f"{type(exc).__name__}: {exc}"
                self._signatures.pop(node_id, None)
                self.refresh()
            if node_id in self._graph.nodes:
                # Publish the node again, so that a refused switch flips back in the view.
                self._graph.changed.add(node_id)
                self._graph.set(node_id, toggle_error=error)
            return error

    # -- graph events ---------------------------------------------------------------------------
    def handle_event(self, event: GraphEvent) -> bool:
        """Applies a graph event; returns whether the graph changed."""
        if not self.live and event.kind in ("node_created", "op_without_grad"):
            return False
        with self._lock:
            handler = getattr(self, f"_on_{event.kind}", None)
            if handler is not None:
                handler(event)
            return bool(self._graph.changed) or self._meta_changed

    def _on_node_created(self, event: GraphEvent) -> None:
        if event.node is None:
            return
        graph = self._graph
        fn_id = graph.function(event.node)
        for output in event.outputs:
            graph.edge(graph.variable(output), fn_id, "output", output.output_nr)
        graph.walk([event.node])  # the inputs, and any history not shown yet

    def _on_op_without_grad(self, event: GraphEvent) -> None:
        graph = self._graph
        fn_id = graph.function(NoGradOp(event.name or "operation"))
        for output in event.outputs:
            graph.edge(graph.variable(output, no_grad=True), fn_id, "output", 0)
        for i, variable in enumerate(event.inputs):
            edge_id = graph.edge(fn_id, graph.with_history(variable), "input", 0, i)
            graph.set(edge_id, requires_grad=False)

    def _activate(self, backward_id: int | None) -> None:
        if backward_id is None or self._active_pass == backward_id:
            return
        self._active_pass = backward_id
        for node_id, node in self._graph.nodes.items():
            if node["kind"] == "function" and node["state"] != "idle":
                self._graph.set(node_id, state="idle")
        self._backward = {
            "id": backward_id,
            "status": "running",
            "error": None,
            "visited": 0,
            "steps": [],
            "clock": 0,
        }
        self._meta_changed = True

    def _on_backward_started(self, event: GraphEvent) -> None:
        known = [self._graph.ids.get(id(root)) for root in event.outputs]
        if any(known):
            self._activate(event.backward_id)
        elif self.live and event.outputs:
            self.add_roots(event.outputs)
            self._activate(event.backward_id)

    def _node_event(self, event: GraphEvent, state: str) -> None:
        node_id = self._graph.ids.get(id(event.node))
        if node_id is None:
            return
        self._activate(event.backward_id)
        self._graph.set(node_id, state=state)
        # The engine's visit order, for replay: each step runs from one tick of this pass's
        # clock to another; steps whose spans overlap ran concurrently. A new list each time:
        # the published graph shares the old one.
        steps = list(self._backward.get("steps", []))
        self._backward["clock"] = tick = self._backward.get("clock", 0) + 1
        if state == "running":
            steps.append({"node": node_id, "start": tick, "end": None})
        else:
            k = next((k for k in range(len(steps) - 1, -1, -1) if steps[k]["node"] == node_id), -1)
            start = steps[k]["start"] if k >= 0 else tick
            step = {"node": node_id, "start": start, "end": tick}
            if k >= 0:
                steps[k] = step
            else:
                steps.append(step)
        self._backward["steps"] = steps
        self._meta_changed = True
        if state == "done":
            self._backward["visited"] += 1

    def _on_node_started(self, event: GraphEvent) -> None:
        self._node_event(event, "running")

    def _on_node_finished(self, event: GraphEvent) -> None:
        self._node_event(event, "done")

    def _on_gradient_accumulated(self, event: GraphEvent) -> None:
        variable = event.variable
        node_id = self._graph.ids.get(id(variable))
        if node_id is None or variable is None:
            return
        if event.gradient is not None and event.backward_id is not None:
            self._passes.put(event.gradient, event.backward_id)
        if variable.is_leaf or variable.retains_grad:
            self._signatures[node_id] = signature(variable)
            grads = [gradient_to_dict(g, self._passes.get(g)) for g in variable.grad[-MAX_GRADS:]]
            self._graph.set(node_id, grad=grads)

    def _on_backward_finished(self, event: GraphEvent) -> None:
        if event.backward_id != self._active_pass or event.backward_id is None:
            return
        failed = event.error is not None
        for node_id, node in self._graph.nodes.items():
            if node["kind"] == "function" and node["state"] == "running":
                self._graph.set(node_id, state="error" if failed else "done")
        self._backward["status"] = "error" if failed else "done"
        self._backward["error"] = (
            f"{type(event.error).__name__}: {event.error}" if event.error is not None else None
        )
        self._meta_changed = True
        self._active_pass = None

    def _on_model_call(self, event: GraphEvent) -> None:
        node_id = self._graph.ids.get(id(event.node))
        if node_id is None:
            return
        node = self._graph.nodes[node_id]
        self._graph.set(node_id, calls=[*node["calls"], call_to_dict(event.record)])

    # -- gradient hooks (engine thread) ---------------------------------------------------------
    def _register_hooks(self, fn_id: str, node: Node) -> None:
        if isinstance(node, AccumulateGrad):
            return
        self._handles.append(node.register_prehook(self._prehook(node)))
        self._handles.append(node.register_hook(self._posthook(fn_id)))

    def _prehook(self, node: Node) -> Any:
        def hook(grad_outputs: tuple[Any, ...]) -> None:
            with self._lock:
                outputs = node.output_variables
                for k, grad in enumerate(grad_outputs):
                    if grad is None or k >= len(outputs) or outputs[k] is None:
                        continue
                    var_id = self._graph.ids.get(id(outputs[k]))
                    if var_id is not None and not self._graph.nodes[var_id].get("is_leaf"):
                        # (leaves show Variable.grad, updated by gradient_accumulated)
                        self._append_grad(var_id, self._graph.nodes[var_id], grad)

        return hook

    def _posthook(self, fn_id: str) -> Any:
        def hook(grad_inputs: tuple[Any, ...], grad_outputs: tuple[Any, ...]) -> None:
            with self._lock:
                for index, edge_id in self._graph.grad_edges.get(fn_id, ()):
                    if index < len(grad_inputs) and grad_inputs[index] is not None:
                        self._append_grad(edge_id, self._graph.edges[edge_id], grad_inputs[index])

        return hook

    def _append_grad(self, item_id: str, item: dict[str, Any], grad: Any) -> None:
        if not isinstance(grad, afnio.Variable):
            return
        entry = gradient_to_dict(grad, self._active_pass)
        self._graph.set(item_id, grad=[*item["grad"], entry][-MAX_GRADS:])

    def close(self) -> None:
        """Removes the gradient hooks and drops the references to Variables and nodes."""
        with self._lock:
            for handle in self._handles:
                handle.remove()
            self._handles.clear()
            self._graph.objects.clear()
            self._graph.ids.clear()
