"""How graph events and gradient hooks change a view's graph (the event half of GraphState).

Events arrive from the kernel thread (operations) and from afnio's engine thread (backward);
hooks run on the engine thread. Every handler runs under the state's lock.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import afnio
from afnio.autodiff.graph import GraphEvent, Node
from afnio_widgets._graph import MAX_GRADS, call_to_dict, gradient_to_dict

__all__ = ["GraphEvents", "NoGradOp", "signature"]


class NoGradOp:
    """Stands for an operation that ran without recording a node (``op_without_grad``)."""

    def __init__(self, name: str) -> None:
        self.name = name


def signature(variable: afnio.Variable) -> tuple[Any, ...]:
    """Cheap fingerprint of what the view shows of a Variable (data compared by identity)."""
    grads = variable.grad if (variable.is_leaf or variable.retains_grad) else ()
    return (
        id(variable.data),
        variable.role,
        variable.requires_grad,
        variable.is_leaf,
        variable.retains_grad,
        len(grads),
        id(grads[-1]) if grads else None,
    )


class GraphEvents:
    """Graph-event handlers and gradient hooks, mixed into
    :class:`~afnio_widgets._state.GraphState`, whose building and bookkeeping methods they use."""

    live: bool
    _lock: threading.RLock
    _ids: dict[int, str]
    _nodes: dict[str, dict[str, Any]]
    _edges: dict[str, dict[str, Any]]
    _grad_edges: dict[str, list[tuple[int, str]]]
    _grad_passes: dict[int, int]
    _signatures: dict[str, tuple[Any, ...] | None]
    _backward: dict[str, Any]
    _active_pass: int | None
    _meta_changed: bool

    if TYPE_CHECKING:  # provided by GraphState

        def _variable(self, variable: afnio.Variable, *, no_grad: bool = False) -> str: ...
        def _function(self, node: Any) -> str: ...
        def _edge(
            self, source: str, target: str, kind: str, output_nr: int, index: int | None = None
        ) -> str: ...
        def _with_history(self, variable: afnio.Variable, *, no_grad: bool = False) -> str: ...
        def _walk(self, start: Iterable[Node]) -> None: ...
        def _set(self, node_id: str, **fields: Any) -> None: ...
        def _set_edge(self, edge_id: str, **fields: Any) -> None: ...
        def add_roots(self, roots: Iterable[afnio.Variable]) -> None: ...
        def has_changes(self) -> bool: ...

    # -- graph events ---------------------------------------------------------------------------
    def handle_event(self, event: GraphEvent) -> bool:
        """Applies a graph event; returns whether the graph changed."""
        if not self.live and event.kind in ("node_created", "op_without_grad"):
            return False
        with self._lock:
            handler = getattr(self, f"_on_{event.kind}", None)
            if handler is not None:
                handler(event)
            return self.has_changes()

    def _on_node_created(self, event: GraphEvent) -> None:
        if not self.live or event.node is None:
            return
        fn_id = self._function(event.node)
        for output in event.outputs:
            self._edge(self._variable(output), fn_id, "output", output.output_nr)
        self._walk([event.node])  # the inputs, and any history not shown yet

    def _on_op_without_grad(self, event: GraphEvent) -> None:
        if not self.live:
            return
        fn_id = self._function(NoGradOp(event.name or "operation"))
        for output in event.outputs:
            self._edge(self._variable(output, no_grad=True), fn_id, "output", 0)
        for i, variable in enumerate(event.inputs):
            edge_id = self._edge(fn_id, self._with_history(variable), "input", 0, i)
            self._edges[edge_id]["requires_grad"] = False

    def _activate(self, backward_id: int | None) -> None:
        if backward_id is None or self._active_pass == backward_id:
            return
        self._active_pass = backward_id
        for node_id, node in self._nodes.items():
            if node["kind"] == "function" and node["state"] != "idle":
                self._set(node_id, state="idle")
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
        known = [self._ids.get(id(root)) for root in event.outputs]
        if any(known):
            self._activate(event.backward_id)
        elif self.live and event.outputs:
            self.add_roots(event.outputs)
            self._activate(event.backward_id)

    def _node_event(self, event: GraphEvent, state: str) -> None:
        node_id = self._ids.get(id(event.node))
        if node_id is None:
            return
        self._activate(event.backward_id)
        self._set(node_id, state=state)
        # The engine's visit order, for replay: each step runs from one tick of this pass's
        # clock to another; steps whose spans overlap ran concurrently. A new list each time:
        # snapshots and patches share it with the message being sent.
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
        node_id = self._ids.get(id(event.variable))
        if node_id is None or event.variable is None:
            return
        variable = event.variable
        if event.gradient is not None and event.backward_id is not None:
            self._grad_passes[id(event.gradient)] = event.backward_id
        if variable.is_leaf or variable.retains_grad:
            self._signatures[node_id] = signature(variable)
            grads = [
                gradient_to_dict(g, self._grad_passes.get(id(g)))
                for g in variable.grad[-MAX_GRADS:]
            ]
            self._set(node_id, grad=grads)

    def _on_backward_finished(self, event: GraphEvent) -> None:
        if event.backward_id != self._active_pass or event.backward_id is None:
            return
        failed = event.error is not None
        for node_id, node in self._nodes.items():
            if node["kind"] == "function" and node["state"] == "running":
                self._set(node_id, state="error" if failed else "done")
        self._backward["status"] = "error" if failed else "done"
        self._backward["error"] = (
            f"{type(event.error).__name__}: {event.error}" if event.error is not None else None
        )
        self._meta_changed = True
        self._active_pass = None

    def _on_model_call(self, event: GraphEvent) -> None:
        node_id = self._ids.get(id(event.node))
        if node_id is None:
            return
        node = self._nodes[node_id]
        self._set(node_id, calls=[*node["calls"], call_to_dict(event.record)])

    # -- gradient hooks (engine thread) ---------------------------------------------------------
    def _prehook(self, fn_id: str, node: Node) -> Any:
        def hook(grad_outputs: tuple[Any, ...]) -> None:
            with self._lock:
                outputs = node.output_variables
                for k, grad in enumerate(grad_outputs):
                    if grad is None or k >= len(outputs) or outputs[k] is None:
                        continue
                    var_id = self._ids.get(id(outputs[k]))
                    if var_id is not None:
                        self._append_grad(self._nodes[var_id], var_id, grad, node=True)

        return hook

    def _posthook(self, fn_id: str) -> Any:
        def hook(grad_inputs: tuple[Any, ...], grad_outputs: tuple[Any, ...]) -> None:
            with self._lock:
                for index, edge_id in self._grad_edges.get(fn_id, ()):
                    if index < len(grad_inputs) and grad_inputs[index] is not None:
                        self._append_grad(
                            self._edges[edge_id], edge_id, grad_inputs[index], node=False
                        )

        return hook

    def _append_grad(self, item: dict[str, Any], item_id: str, grad: Any, *, node: bool) -> None:
        if not isinstance(grad, afnio.Variable):
            return
        if node and item.get("is_leaf"):
            return  # leaves show Variable.grad, updated by gradient_accumulated
        entry = gradient_to_dict(grad, self._active_pass)
        grads = [*item["grad"], entry][-MAX_GRADS:]
        if node:
            self._set(item_id, grad=grads)
        else:
            self._set_edge(item_id, grad=grads)
