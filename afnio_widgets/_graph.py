"""Pure conversions from afnio objects to the JSON contract shared with the front-end.

Everything here is a plain function of its arguments: Variables, backward nodes, gradients and
model-call records become JSON-safe dicts, and :func:`graph_to_dict` turns one or more root
Variables into a whole graph. The contract itself is documented once, in ``docs/widgets.md``;
the JavaScript side types it in ``js/contract.js``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

import afnio
from afnio.autodiff.graph import AccumulateGrad, Node
from afnio.cognitive import Parameter

__all__ = [
    "FORMAT",
    "MAX_GRADS",
    "MAX_ITEMS",
    "MAX_TEXT",
    "VERSION",
    "call_to_dict",
    "call_usage",
    "function_fields",
    "gradient_to_dict",
    "graph_to_dict",
    "json_safe",
    "preview",
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

PREVIEW_CHARS = 60
_MAX_DEPTH = 8


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """A one-line summary of a Variable's data, at most ``limit`` characters.

    Args:
        value: A string, number, ``None`` or (nested) list.
        limit: The maximum length of the result.

    Returns:
        Whitespace collapsed to single spaces; lists shown as ``[n items] first item``.

    Example:
        >>> preview("Hello\\n   world")
        'Hello world'
        >>> preview(["a", "b"])
        '[2 items] a'
        >>> preview("x" * 100, limit=10)
        'xxxxxxxxx…'
    """
    if isinstance(value, list):
        head = f"[{len(value)} item{'' if len(value) == 1 else 's'}]"
        first = next((item for item in value if item is not None), None)
        text = head if first is None else f"{head} {preview(first, limit)}"
    elif value is None:
        text = "None"
    elif isinstance(value, str):
        text = " ".join(value[: limit * 4].split())
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
    from afnio_widgets._feedback import feedback_preview  # it builds on preview() above

    data, _ = json_safe(gradient.data)
    return {
        "data": data,
        "role": gradient.role or "",
        "preview": feedback_preview(gradient.data),
        "backward_id": backward_id,
    }


def variable_fields(
    variable: afnio.Variable, backward_ids: Mapping[int, int] | None = None
) -> dict[str, Any]:
    """The contract fields of a Variable node (everything but ``id``, ``kind`` and the flags
    that depend on the graph: ``is_root``, ``no_grad``, ``toggle_error``).

    Args:
        variable: The Variable.
        backward_ids: Maps ``id(gradient)`` to the backward pass that produced it, if known.

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
    ids = backward_ids or {}
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
        "grad": [gradient_to_dict(g, ids.get(id(g))) for g in grads[-MAX_GRADS:]],
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


def as_roots(roots: Any) -> list[afnio.Variable]:
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


def graph_to_dict(roots: afnio.Variable | Sequence[afnio.Variable] | None) -> dict[str, Any]:
    """The backward graph of ``roots`` as a dict following the graph contract.

    Variables become ``variable`` nodes, backward nodes ``function`` nodes; edges follow
    ``next_functions`` (``input`` edges from a node to the Variable it consumed, ``output`` edges
    from a Variable to the node that produced it, both carrying the ``output_nr``). Leaf
    gradients come from ``Variable.grad``. Nothing is modified.

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
    from afnio_widgets._state import GraphState

    state = GraphState(hooks=False)
    state.add_roots(as_roots(roots))
    return state.snapshot()
