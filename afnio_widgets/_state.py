"""The kernel-side graph behind a view: ids, node and edge dicts, and the changes since the last
message.

:class:`GraphState` is thread-safe: graph events and gradient hooks may arrive from afnio's
engine thread while the kernel thread runs operations and the flusher thread takes patches.
It holds strong references to the Variables and nodes it shows, until :meth:`close`.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable
from typing import Any

import afnio
from afnio.autodiff.graph import AccumulateGrad, Node, RemovableHandle
from afnio_widgets._events import GraphEvents, NoGradOp, signature
from afnio_widgets._graph import FORMAT, VERSION, function_fields, variable_fields, wire

__all__ = ["GraphState"]


class GraphState(GraphEvents):
    """Nodes and edges of one view, with the changes not yet sent.

    Args:
        live: Add the operations announced by graph events (``node_created``,
            ``op_without_grad``) to the graph.
        hooks: Register hooks on backward nodes to capture the gradients flowing along edges.
    """

    def __init__(self, *, live: bool = False, hooks: bool = True) -> None:
        self.live = live
        self._hooks_enabled = hooks
        self._lock = threading.RLock()
        self._ids: dict[int, str] = {}
        self._objects: dict[str, Any] = {}
        self._nodes: dict[str, dict[str, Any]] = {}
        self._edges: dict[str, dict[str, Any]] = {}
        self._edge_keys: dict[tuple[Any, ...], str] = {}
        self._grad_edges: dict[str, list[tuple[int, str]]] = {}
        self._grad_passes: dict[int, int] = {}
        self._expanded: set[str] = set()
        self._signatures: dict[str, tuple[Any, ...] | None] = {}
        self._roots: list[str] = []
        self._handles: list[RemovableHandle] = []
        self._backward: dict[str, Any] = {"id": None, "status": "idle", "error": None, "visited": 0}
        self._active_pass: int | None = None
        self._counter = 0
        self._edge_counter = 0
        self._new: list[str] = []
        self._changed: dict[str, set[str]] = {}
        self._new_edges: list[str] = []
        self._changed_edges: dict[str, set[str]] = {}
        self._meta_changed = False
        self.rev = 0

    # -- lookup ---------------------------------------------------------------------------------
    def id_of(self, obj: Any) -> str | None:
        """The node id of a Variable or backward node shown in this graph, else ``None``."""
        with self._lock:
            return self._ids.get(id(obj))

    def object_of(self, node_id: str) -> Any:
        """The Variable or backward node behind ``node_id`` (``None`` if unknown)."""
        with self._lock:
            return self._objects.get(node_id)

    def node(self, node_id: str) -> dict[str, Any] | None:
        """A copy of the node dict with id ``node_id``."""
        with self._lock:
            found = self._nodes.get(node_id)
            return dict(found) if found is not None else None

    def edge(self, edge_id: str) -> dict[str, Any] | None:
        """A copy of the edge dict with id ``edge_id``."""
        with self._lock:
            found = self._edges.get(edge_id)
            return dict(found) if found is not None else None

    def __len__(self) -> int:
        return len(self._nodes)

    # -- building -------------------------------------------------------------------------------
    def _new_id(self, obj: Any) -> str:
        node_id = f"n{self._counter}"
        self._counter += 1
        self._ids[id(obj)] = node_id
        self._objects[node_id] = obj
        self._new.append(node_id)
        return node_id

    def _variable(self, variable: afnio.Variable, *, no_grad: bool = False) -> str:
        node_id = self._ids.get(id(variable))
        if node_id is not None:
            if no_grad and not self._nodes[node_id]["no_grad"]:
                self._set(node_id, no_grad=True)
            return node_id
        node_id = self._new_id(variable)
        self._nodes[node_id] = {
            "id": node_id,
            "kind": "variable",
            **variable_fields(variable, self._grad_passes),
            "is_root": False,
            "no_grad": no_grad,
            "toggle_error": None,
        }
        self._signatures[node_id] = None  # computed on the first refresh
        return node_id

    def _function(self, node: Node | NoGradOp) -> str:
        node_id = self._ids.get(id(node))
        if node_id is not None:
            return node_id
        node_id = self._new_id(node)
        if isinstance(node, NoGradOp):
            fields: dict[str, Any] = {
                "name": node.name,
                "sequence_nr": None,
                "accumulate": False,
                "no_grad": True,
                "group": None,
                "calls": [],
            }
        else:
            fields = function_fields(node)
            if self._hooks_enabled and not isinstance(node, AccumulateGrad):
                self._handles.append(node.register_prehook(self._prehook(node_id, node)))
                self._handles.append(node.register_hook(self._posthook(node_id)))
        self._nodes[node_id] = {"id": node_id, "kind": "function", **fields, "state": "idle"}
        return node_id

    def _edge(
        self, source: str, target: str, kind: str, output_nr: int, index: int | None = None
    ) -> str:
        key = (source, target, kind, index)
        edge_id = self._edge_keys.get(key)
        if edge_id is not None:
            return edge_id
        edge_id = f"e{self._edge_counter}"
        self._edge_counter += 1
        self._edge_keys[key] = edge_id
        self._edges[edge_id] = {
            "id": edge_id,
            "source": source,
            "target": target,
            "kind": kind,
            "index": index,
            "output_nr": output_nr,
            "requires_grad": True,
            "grad": [],
        }
        self._new_edges.append(edge_id)
        if kind in ("input", "next") and index is not None:
            self._grad_edges.setdefault(source, []).append((index, edge_id))
        return edge_id

    def _with_history(self, variable: afnio.Variable, *, no_grad: bool = False) -> str:
        """Adds a Variable and, if an operation produced it, that operation's whole history."""
        var_id = self._variable(variable, no_grad=no_grad)
        if variable.grad_fn is not None:
            fn_id = self._function(variable.grad_fn)
            self._edge(var_id, fn_id, "output", variable.output_nr)
            self._walk([variable.grad_fn])
        return var_id

    def _walk(self, start: Iterable[Node]) -> None:
        """Adds everything reachable from ``start`` along ``next_functions`` (iteratively, so
        that a chain of thousands of operations does not hit the recursion limit)."""
        stack = list(start)
        while stack:
            node = stack.pop()
            fn_id = self._function(node)
            if fn_id in self._expanded:
                continue
            self._expanded.add(fn_id)
            if isinstance(node, AccumulateGrad):
                var_id = self._variable(node.variable)
                self._edge(var_id, fn_id, "output", 0)
                continue
            inputs = node.input_variables
            edges = node.next_functions
            aligned = len(inputs) == len(edges)
            for i, edge in enumerate(edges):
                child_id = self._function(edge.node) if edge.node is not None else None
                if aligned:
                    var_id = self._variable(inputs[i])
                    e = self._edge(fn_id, var_id, "input", edge.output_nr, i)
                    if child_id is None:
                        self._edges[e]["requires_grad"] = False
                    else:
                        self._edge(var_id, child_id, "output", edge.output_nr)
                elif child_id is not None:
                    self._edge(fn_id, child_id, "next", edge.output_nr, i)
                if edge.node is not None and child_id not in self._expanded:
                    stack.append(edge.node)

    def add_roots(self, roots: Iterable[afnio.Variable]) -> None:
        """Adds root Variables and their history."""
        with self._lock:
            for root in roots:
                var_id = self._with_history(root)
                if var_id not in self._roots:
                    self._roots.append(var_id)
                    self._set(var_id, is_root=True)
                    self._meta_changed = True

    def load(self, graph: dict[str, Any]) -> None:
        """Fills an empty state from a graph dict (a snapshot: no Variables behind it)."""
        with self._lock:
            for node in graph["nodes"]:
                self._nodes[node["id"]] = dict(node)
            for edge in graph["edges"]:
                self._edges[edge["id"]] = dict(edge)
            self._roots = list(graph.get("roots", []))
            self._backward = dict(graph.get("backward") or self._backward)
            self._new = list(self._nodes)
            self._new_edges = list(self._edges)

    # -- changes --------------------------------------------------------------------------------
    def _set(self, node_id: str, **fields: Any) -> None:
        node = self._nodes[node_id]
        for key, value in fields.items():
            if node.get(key) != value:
                node[key] = value
                self._changed.setdefault(node_id, set()).add(key)

    def _set_edge(self, edge_id: str, **fields: Any) -> None:
        edge = self._edges[edge_id]
        for key, value in fields.items():
            if edge.get(key) != value:
                edge[key] = value
                self._changed_edges.setdefault(edge_id, set()).add(key)

    def refresh(self, force: bool = False) -> None:
        """Re-reads every Variable shown (data, role, flags, gradients).

        Args:
            force: Rebuild every field even if the cheap fingerprint (data identity, flags,
                number of gradients) did not change, e.g. after an in-place edit of list data.
        """
        with self._lock:
            for node_id, node in self._nodes.items():
                if node["kind"] != "variable":
                    continue
                variable = self._objects[node_id]
                current = signature(variable)
                if not force and current == self._signatures.get(node_id):
                    continue
                self._signatures[node_id] = current
                fields = variable_fields(variable, self._grad_passes)
                if not (variable.is_leaf or variable.retains_grad):
                    fields.pop("grad")  # non-leaf gradients come from hooks, keep them
                self._set(node_id, **fields)

    def has_changes(self) -> bool:
        """Whether :meth:`take_patch` would return something."""
        with self._lock:
            return (
                bool(self._new or self._changed or self._new_edges or self._changed_edges)
                or self._meta_changed
            )

    def take_patch(self) -> dict[str, Any] | None:
        """The changes since the last patch (new nodes in full, changed fields of others), or
        ``None`` when nothing changed. Each patch increments :attr:`rev`."""
        with self._lock:
            if not self.has_changes():
                return None
            nodes = [wire(self._nodes[i]) for i in self._new]
            new = set(self._new)
            for node_id, keys in self._changed.items():
                if node_id not in new:
                    node = self._nodes[node_id]
                    nodes.append(wire({"id": node_id, **{k: node[k] for k in keys}}))
            edges = [wire(self._edges[i]) for i in self._new_edges]
            new_edges = set(self._new_edges)
            for edge_id, keys in self._changed_edges.items():
                if edge_id not in new_edges:
                    edge = self._edges[edge_id]
                    edges.append(wire({"id": edge_id, **{k: edge[k] for k in keys}}))
            patch: dict[str, Any] = {
                "type": "patch",
                "base": self.rev,
                "rev": self.rev + 1,
                "nodes": nodes,
                "edges": edges,
            }
            if self._meta_changed:
                patch["roots"] = list(self._roots)
                patch["backward"] = dict(self._backward)
            self.rev += 1
            self._new, self._changed, self._new_edges, self._changed_edges = [], {}, [], {}
            self._meta_changed = False
            return patch

    def discard_changes(self) -> None:
        """Forgets the pending changes (a view about to get a snapshot does not need them)."""
        with self._lock:
            self._new, self._changed, self._new_edges, self._changed_edges = [], {}, [], {}
            self._meta_changed = False

    def snapshot(self, *, for_wire: bool = False) -> dict[str, Any]:
        """The whole graph as a contract dict (see docs/widgets.md).

        Args:
            for_wire: Cut long texts as in patches (see :func:`~afnio_widgets._graph.wire`).
        """
        convert = wire if for_wire else dict
        with self._lock:
            return {
                "format": FORMAT,
                "version": VERSION,
                "roots": list(self._roots),
                "nodes": [convert(n) for n in self._nodes.values()],
                "edges": [convert(e) for e in self._edges.values()],
                "backward": dict(self._backward),
            }

    # -- toggles --------------------------------------------------------------------------------
    def set_requires_grad(self, node_id: str, value: bool) -> str | None:
        """Sets ``requires_grad`` of the Variable behind ``node_id``.

        Returns:
            ``None`` on success, else afnio's error message (also stored in the node's
            ``toggle_error`` field so that the panel shows it).
        """
        with self._lock:
            variable = self._objects.get(node_id)
            if not isinstance(variable, afnio.Variable):
                error = f"No Variable with id {node_id!r} in this graph."
            else:
                try:
                    variable.requires_grad = bool(value)
                    error = None
                except (RuntimeError, TypeError) as exc:
                    error = f"{type(exc).__name__}: {exc}"
                self._signatures.pop(node_id, None)
                self.refresh()
            if node_id in self._nodes:
                # Re-send the flag so that a refused switch flips back in the view.
                self._changed.setdefault(node_id, set()).add("requires_grad")
                self._set(node_id, toggle_error=error)
            return error

    def close(self) -> None:
        """Removes the gradient hooks and drops the references to Variables and nodes."""
        with self._lock:
            for handle in self._handles:
                handle.remove()
            self._handles.clear()
            self._objects.clear()
            self._ids.clear()
