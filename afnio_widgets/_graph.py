"""Pure conversions from afnio objects to the JSON contract shared with the front-end.

Variables, backward nodes, gradients and model-call records become JSON-safe dicts;
:class:`GraphBuilder` walks a graph into node and edge dicts (plain data: no lock, no hook, no
thread), and :func:`graph_to_dict` turns one or more root Variables into a whole graph with it.
The kernel-side state of a live view (:class:`afnio_widgets._state.GraphState`) builds on the
same walker. The contract itself is documented once, in ``docs/widgets.md``; the JavaScript side
types it in ``js/contract.js``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import afnio
from afnio.autodiff.graph import AccumulateGrad, Node
from afnio.cognitive import Parameter
from afnio_widgets._feedback import feedback_preview
from afnio_widgets._preview import preview

__all__ = [
    "FORMAT",
    "IDLE",
    "MAX_GRADS",
    "MAX_ITEMS",
    "MAX_TEXT",
    "VERSION",
    "GraphBuilder",
    "NoGradOp",
    "PassOf",
    "as_roots",
    "call_to_dict",
    "call_usage",
    "function_fields",
    "gradient_to_dict",
    "graph_to_dict",
    "json_safe",
    "preview",
    "signature",
    "variable_fields",
    "wire",
]

FORMAT = "afnio-graph"
"""The value of the ``format`` key of every graph dict."""

VERSION = 1
"""The version of the graph contract; bumped on incompatible changes."""

MAX_TEXT = 20_000
"""Strings longer than this are cut (and the node marked ``truncated``)."""

MAX_ITEMS = 500
"""Lists longer than this are cut (and the node marked ``truncated``)."""

MAX_GRADS = 20
"""At most this many gradients are kept per node or edge (the most recent ones)."""

IDLE: dict[str, Any] = {"id": None, "status": "idle", "error": None, "visited": 0}
"""The ``backward`` field of a graph no backward pass has run through."""

_MAX_DEPTH = 8


def json_safe(value: Any, depth: int = 0) -> tuple[Any, bool]:
    """Returns ``(json_value, truncated)`` for any Python value.

    Strings are cut at :data:`MAX_TEXT` characters and lists at :data:`MAX_ITEMS` items;
    non-finite floats become strings; unknown objects become their ``repr``.

    Example:
        >>> json_safe({"a": (1, float("nan")), 2: "x"})
        ({'a': [1, 'nan'], '2': 'x'}, False)
    """
    if value is None or isinstance(value, (bool, int)):
        return value, False
    if isinstance(value, float):
        return (value, False) if math.isfinite(value) else (repr(value), False)
    if isinstance(value, str):
        if len(value) > MAX_TEXT:
            return value[:MAX_TEXT], True
        return value, False
    if depth >= _MAX_DEPTH:
        return preview(value, 200), True
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        cut = False
        for key, item in list(value.items())[:MAX_ITEMS]:
            out[str(key)], item_cut = json_safe(item, depth + 1)
            cut = cut or item_cut
        return out, cut or len(value) > MAX_ITEMS
    if isinstance(value, (list, tuple, set, frozenset)):
        items = list(value)
        safe = [json_safe(item, depth + 1) for item in items[:MAX_ITEMS]]
        return [v for v, _ in safe], len(items) > MAX_ITEMS or any(c for _, c in safe)
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json_safe(dataclasses.asdict(value), depth + 1)
    return json_safe(repr(value), depth + 1)


WIRE_TEXT = 2_000
"""Strings sent to the front-end in patches and snapshots are cut at this length; the panel asks
for the full node (``details`` message) when it shows a ``partial`` one."""

WIRE_ITEMS = 100
"""Lists sent to the front-end in patches and snapshots are cut at this many items."""


def _cap(value: Any) -> tuple[Any, bool]:
    if isinstance(value, str):
        return (value[:WIRE_TEXT], True) if len(value) > WIRE_TEXT else (value, False)
    if isinstance(value, list):
        cut = len(value) > WIRE_ITEMS
        items = []
        for item in value[:WIRE_ITEMS]:
            item, item_cut = _cap(item)
            items.append(item)
            cut = cut or item_cut
        return items, cut
    if isinstance(value, dict):
        out = {}
        cut = False
        for key, item in value.items():
            out[key], item_cut = _cap(item)
            cut = cut or item_cut
        return out, cut
    return value, False


_HEAVY = ("data", "grad", "calls")


def wire(item: dict[str, Any]) -> dict[str, Any]:
    """A node or edge dict (or part of one) as sent to the front-end: long strings and lists
    in ``data``, ``grad`` and ``calls`` are cut (:data:`WIRE_TEXT`, :data:`WIRE_ITEMS`) and
    ``partial`` says whether anything was.

    Example:
        >>> wire({"id": "n0", "data": "x" * 5000})["partial"]
        True
    """
    out = dict(item)
    partial = False
    for key in _HEAVY:
        value = out.get(key)
        if (isinstance(value, str) and len(value) <= WIRE_TEXT) or not value:
            continue
        out[key], cut = _cap(value)
        partial = partial or cut
    out["partial"] = partial
    return out


def _dtype(data: Any) -> str:
    if isinstance(data, list):
        return "list"
    if data is None:
        return "none"
    return type(data).__name__ if isinstance(data, (str, bool, int, float)) else "other"


def gradient_to_dict(gradient: afnio.Variable, backward_id: int | None = None) -> dict[str, Any]:
    """Converts a gradient Variable into ``{data, role, preview, backward_id}``.

    Example:
        >>> g = gradient_to_dict(afnio.Variable("Be brief.", role="feedback to answer"))
        >>> g["preview"], g["role"]
        ('Be brief.', 'feedback to answer')
    """

    data, _ = json_safe(gradient.data)
    return {
        "data": data,
        "role": gradient.role or "",
        "preview": feedback_preview(gradient.data),
        "backward_id": backward_id,
    }


PassOf = Callable[[afnio.Variable], "int | None"]
"""Gives the backward pass that produced a gradient Variable, or ``None`` if unknown."""


def _unknown_pass(_gradient: afnio.Variable) -> int | None:
    return None


def variable_fields(variable: afnio.Variable, pass_of: PassOf | None = None) -> dict[str, Any]:
    """The contract fields of a Variable node (everything but ``id``, ``kind`` and the flags
    that depend on the graph: ``is_root``, ``no_grad``, ``toggle_error``).

    Args:
        variable: The Variable.
        pass_of: Gives the backward pass that produced a gradient, if known.

    Example:
        >>> fields = variable_fields(afnio.Variable(["a", "b"], role="batch", requires_grad=True))
        >>> fields["batch"], fields["is_leaf"], fields["requires_grad"], fields["preview"]
        (2, True, True, '[2 items] a')
    """
    raw = variable.data
    data, cut = json_safe(raw)
    is_list = isinstance(raw, list)
    is_leaf = variable.is_leaf
    retains = variable.retains_grad
    grads = variable.grad if (is_leaf or retains) else ()
    label = pass_of or _unknown_pass
    return {
        "role": variable.role or "",
        "data": data,
        "preview": preview(raw),
        "dtype": _dtype(raw),
        "shape": repr(variable.shape) if is_list else "()",
        "batch": len(raw) if is_list else None,
        "requires_grad": bool(variable.requires_grad),
        "is_leaf": bool(is_leaf),
        "is_parameter": isinstance(variable, Parameter),
        "retains_grad": bool(retains),
        "grad": [gradient_to_dict(g, label(g)) for g in grads[-MAX_GRADS:]],
        "truncated": cut,
    }


def call_to_dict(record: Any) -> dict[str, Any]:
    """Converts a model-call record into a JSON-safe dict.

    Uses ``record.to_dict()`` when it exists (:class:`afnio.models.ModelCall`), else the record
    itself when it is a dict or a dataclass, else ``{"repr": repr(record)}``.

    Example:
        >>> call_to_dict({"response": "Paris", "usage": {"total_tokens": 12}})["usage"]
        {'total_tokens': 12}
    """
    to_dict = getattr(record, "to_dict", None)
    if callable(to_dict):
        raw = to_dict()
    elif isinstance(record, dict) or (
        dataclasses.is_dataclass(record) and not isinstance(record, type)
    ):
        raw = record
    else:
        raw = {"repr": repr(record)}
    safe, _ = json_safe(raw)
    return safe if isinstance(safe, dict) else {"value": safe}


def call_usage(call: dict[str, Any]) -> tuple[dict[str, int], float | None, str | None]:
    """The tokens, cost and currency of a call dict (from :func:`call_to_dict`).

    Returns:
        ``(tokens, amount, currency)``: the token counts found, the cost (``None`` when the
        call is unpriced) and its currency (``None`` when not said).

    Example:
        >>> call_usage({"usage": {"total_tokens": 12}, "cost": 0.5})
        ({'total_tokens': 12}, 0.5, None)
        >>> call_usage({"usage": {}, "cost": None})
        ({}, None, None)
    """
    usage = call.get("usage") or {}
    tokens = {}
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        value = usage.get(key) if isinstance(usage, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            tokens[key] = int(value)
    cost = call.get("cost")
    if cost is None and isinstance(usage, dict):
        cost = usage.get("cost")
    currency = None
    if isinstance(cost, dict):
        currency = cost.get("currency")
        cost = cost.get("amount")
    amount = float(cost) if isinstance(cost, (int, float)) and not isinstance(cost, bool) else None
    return tokens, amount, currency


def function_fields(node: Node) -> dict[str, Any]:
    """The contract fields of a backward node (everything but ``id``, ``kind``, ``state``).

    Example:
        >>> x = afnio.Variable("a", requires_grad=True)
        >>> fields = function_fields((x + x).grad_fn)
        >>> fields["name"], fields["accumulate"], fields["calls"]
        ('AddBackward0', False, [])
    """
    group = node.metadata.get("module") if isinstance(node.metadata, dict) else None
    return {
        "name": node.name(),
        "sequence_nr": node.sequence_nr,
        "accumulate": isinstance(node, AccumulateGrad),
        "no_grad": False,
        "group": str(group) if group is not None else None,
        "calls": [call_to_dict(record) for record in node.calls],
    }


def signature(variable: afnio.Variable) -> tuple[Any, ...]:
    """A cheap fingerprint of what a view shows of a Variable (data compared by identity), to
    skip re-reading Variables that did not change."""
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


class NoGradOp:
    """Stands for an operation that ran without recording a node (``op_without_grad``)."""

    def __init__(self, name: str) -> None:
        self.name = name


def as_roots(roots: Any) -> list[afnio.Variable]:
    """The root Variables of a graph as a list.

    Args:
        roots: A Variable, a list or tuple of Variables, or ``None`` (no roots).

    Raises:
        TypeError: For anything else.

    Example:
        >>> as_roots(None), len(as_roots(afnio.Variable("a")))
        ([], 1)
    """
    if roots is None:
        return []
    if isinstance(roots, afnio.Variable):
        return [roots]
    if isinstance(roots, (list, tuple)) and all(isinstance(r, afnio.Variable) for r in roots):
        return list(roots)
    raise TypeError(
        "Expected a Variable, a list of Variables or None as the root(s) of the graph, but got "
        f"{type(roots).__name__}: {roots!r:.80}. Pass the Variable whose history you want to see, "
        "e.g. GraphView(loss)."
    )


class GraphBuilder:
    """Node and edge dicts of a graph, built from Variables and backward nodes as they are met.

    Ids are given in the order things are met (``n0``, ``n1``... and ``e0``, ``e1``...); a
    Variable or node met again keeps its id. :attr:`changed` collects the ids of the nodes and
    edges created or modified since the caller last emptied it. The builder is plain data: it
    takes no lock and registers nothing, except through ``on_function``.

    Args:
        on_function: Called with ``(node_id, node)`` for every backward node added (not for
            operations that ran without grad).
        pass_of: Gives the backward pass that produced a gradient, if known.

    Example:
        >>> x = afnio.Variable("a", role="x", requires_grad=True)
        >>> builder = GraphBuilder()
        >>> builder.add_roots([x + x])
        >>> [n["id"] for n in builder.nodes.values()], sorted(builder.changed)[:3]
        (['n0', 'n1', 'n2', 'n3'], ['e0', 'e1', 'e2'])
    """

    def __init__(
        self,
        on_function: Callable[[str, Node], None] | None = None,
        pass_of: PassOf | None = None,
    ) -> None:
        self.on_function = on_function
        self.pass_of = pass_of
        self.ids: dict[int, str] = {}
        self.objects: dict[str, Any] = {}
        self.nodes: dict[str, dict[str, Any]] = {}
        self.edges: dict[str, dict[str, Any]] = {}
        self.roots: list[str] = []
        self.grad_edges: dict[str, list[tuple[int, str]]] = {}
        self.changed: set[str] = set()
        self._edge_keys: dict[tuple[Any, ...], str] = {}
        self._expanded: set[str] = set()
        self._counter = 0
        self._edge_counter = 0

    # -- changes --------------------------------------------------------------------------------
    def set(self, item_id: str, **fields: Any) -> None:
        """Sets fields of node or edge ``item_id``, marking it changed if a value differs."""
        item = self.nodes.get(item_id)
        if item is None:
            item = self.edges[item_id]
        for key, value in fields.items():
            if key not in item or item[key] != value:
                item[key] = value
                self.changed.add(item_id)

    # -- building -------------------------------------------------------------------------------
    def _new_id(self, obj: Any) -> str:
        node_id = f"n{self._counter}"
        self._counter += 1
        self.ids[id(obj)] = node_id
        self.objects[node_id] = obj
        self.changed.add(node_id)
        return node_id

    def variable(self, variable: afnio.Variable, *, no_grad: bool = False) -> str:
        """The id of ``variable``, added as a node if new."""
        node_id = self.ids.get(id(variable))
        if node_id is not None:
            if no_grad and not self.nodes[node_id]["no_grad"]:
                self.set(node_id, no_grad=True)
            return node_id
        node_id = self._new_id(variable)
        self.nodes[node_id] = {
            "id": node_id,
            "kind": "variable",
            **variable_fields(variable, self.pass_of),
            "is_root": False,
            "no_grad": no_grad,
            "toggle_error": None,
        }
        return node_id

    def function(self, node: Node | NoGradOp) -> str:
        """The id of a backward node (or an operation that ran without grad), added if new."""
        node_id = self.ids.get(id(node))
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
        self.nodes[node_id] = {"id": node_id, "kind": "function", **fields, "state": "idle"}
        if self.on_function is not None and not isinstance(node, NoGradOp):
            self.on_function(node_id, node)
        return node_id

    def edge(
        self, source: str, target: str, kind: str, output_nr: int, index: int | None = None
    ) -> str:
        """The id of the edge ``source -> target``, added if new."""
        key = (source, target, kind, index)
        edge_id = self._edge_keys.get(key)
        if edge_id is not None:
            return edge_id
        edge_id = f"e{self._edge_counter}"
        self._edge_counter += 1
        self._edge_keys[key] = edge_id
        self.edges[edge_id] = {
            "id": edge_id,
            "source": source,
            "target": target,
            "kind": kind,
            "index": index,
            "output_nr": output_nr,
            "requires_grad": True,
            "grad": [],
        }
        self.changed.add(edge_id)
        if kind in ("input", "next") and index is not None:
            self.grad_edges.setdefault(source, []).append((index, edge_id))
        return edge_id

    def with_history(self, variable: afnio.Variable, *, no_grad: bool = False) -> str:
        """Adds a Variable and, if an operation produced it, that operation's whole history."""
        var_id = self.variable(variable, no_grad=no_grad)
        if variable.grad_fn is not None:
            fn_id = self.function(variable.grad_fn)
            self.edge(var_id, fn_id, "output", variable.output_nr)
            self.walk([variable.grad_fn])
        return var_id

    def walk(self, start: Iterable[Node]) -> None:
        """Adds everything reachable from ``start`` along ``next_functions`` (iteratively, so
        that a chain of thousands of operations does not hit the recursion limit)."""
        stack = list(start)
        while stack:
            node = stack.pop()
            fn_id = self.function(node)
            if fn_id in self._expanded:
                continue
            self._expanded.add(fn_id)
            if isinstance(node, AccumulateGrad):
                var_id = self.variable(node.variable)
                self.edge(var_id, fn_id, "output", 0)
                continue
            inputs = node.input_variables
            edges = node.next_functions
            aligned = len(inputs) == len(edges)
            for i, edge in enumerate(edges):
                child_id = self.function(edge.node) if edge.node is not None else None
                if aligned:
                    var_id = self.variable(inputs[i])
                    e = self.edge(fn_id, var_id, "input", edge.output_nr, i)
                    if child_id is None:
                        self.edges[e]["requires_grad"] = False
                    else:
                        self.edge(var_id, child_id, "output", edge.output_nr)
                elif child_id is not None:
                    self.edge(fn_id, child_id, "next", edge.output_nr, i)
                if edge.node is not None and child_id not in self._expanded:
                    stack.append(edge.node)

    def add_roots(self, roots: Iterable[afnio.Variable]) -> None:
        """Adds root Variables and their history."""
        for root in roots:
            var_id = self.with_history(root)
            if var_id not in self.roots:
                self.roots.append(var_id)
                self.set(var_id, is_root=True)

    def to_dict(self, backward: dict[str, Any] | None = None) -> dict[str, Any]:
        """The graph as a contract dict (copies of the node and edge dicts)."""
        return {
            "format": FORMAT,
            "version": VERSION,
            "roots": list(self.roots),
            "nodes": [dict(n) for n in self.nodes.values()],
            "edges": [dict(e) for e in self.edges.values()],
            "backward": dict(backward or IDLE),
        }


def graph_to_dict(roots: afnio.Variable | Sequence[afnio.Variable] | None) -> dict[str, Any]:
    """The backward graph of ``roots`` as a dict following the graph contract.

    Variables become ``variable`` nodes, backward nodes ``function`` nodes; edges follow
    ``next_functions`` (``input`` edges from a node to the Variable it consumed, ``output`` edges
    from a Variable to the node that produced it, both carrying the ``output_nr``). Leaf
    gradients come from ``Variable.grad``. Nothing is modified and nothing is registered.

    Args:
        roots: A Variable, a list of Variables, or ``None`` for an empty graph.

    Returns:
        ``{"format", "version", "roots", "nodes", "edges", "backward"}`` (see docs/widgets.md).

    Raises:
        TypeError: If ``roots`` is not a Variable, a list of Variables or ``None``.

    Example:
        >>> x = afnio.Variable("Hi", role="greeting", requires_grad=True)
        >>> g = graph_to_dict(x + afnio.Variable("!", role="mark"))
        >>> [n.get("name", n.get("role")) for n in g["nodes"]]
        ['greeting and mark', 'AddBackward0', 'AccumulateGrad', 'greeting', 'mark']
        >>> [(e["source"], e["target"], e["kind"], e["output_nr"]) for e in g["edges"]][:3]
        [('n0', 'n1', 'output', 0), ('n1', 'n3', 'input', 0), ('n3', 'n2', 'output', 0)]
    """
    builder = GraphBuilder()
    builder.add_roots(as_roots(roots))
    return builder.to_dict()
