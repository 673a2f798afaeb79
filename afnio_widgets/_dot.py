"""Static drawing of a graph as a ``graphviz.Digraph`` (DOT), no Jupyter needed."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import graphviz

import afnio
from afnio_widgets._feedback import feedback_preview
from afnio_widgets._graph import preview
from afnio_widgets._snapshot import as_graph

if TYPE_CHECKING:
    from afnio_widgets._graphview import GraphView

__all__ = ["dot_escape", "to_dot"]

_STYLE = {
    "parameter": {"fillcolor": "#cfe3ff", "color": "#2f6fd0"},
    "leaf": {"fillcolor": "#d9f2d9", "color": "#3a8a3a"},
    "variable": {"fillcolor": "#ffffff", "color": "#777777"},
    "function": {"fillcolor": "#eeeeee", "color": "#555555"},
}


def dot_escape(text: str) -> str:
    """Escapes text for a quoted DOT label: backslashes and quotes are escaped, line breaks
    become ``\\l`` (left-aligned lines) and other control characters are dropped.

    Example:
        >>> print(dot_escape('say "hi" \\\\ a:b'))
        say \\"hi\\" \\\\ a:b
    """
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    lines = text.replace("\r\n", "\n").replace("\r", "\n").split("\n")
    cleaned = ["".join(ch for ch in line if ch >= " " or ch == "\t") for line in lines]
    return "\\l".join(cleaned) if len(cleaned) > 1 else cleaned[0]


def _label(*lines: str) -> str:
    # nohtml: a label that looks like <...> must stay text, not become an HTML-like label.
    return graphviz.nohtml("\\n".join(dot_escape(line) for line in lines if line))


def _node_label(node: dict[str, Any], width: int) -> str:
    if node["kind"] == "function":
        calls = len(node.get("calls") or [])
        extra = f"{calls} model call{'s' if calls != 1 else ''}" if calls else ""
        return _label(node["name"] + (" (no grad)" if node.get("no_grad") else ""), extra)
    flags = []
    if node.get("is_parameter"):
        flags.append("parameter")
    elif node.get("is_leaf") and node.get("requires_grad"):
        flags.append("leaf")
    if node.get("requires_grad"):
        flags.append("requires_grad")
    if node.get("no_grad"):
        flags.append("no grad")
    grads = node.get("grad") or []
    grad = f"grad: {feedback_preview(grads[-1]['data'], width)}" if grads else ""
    return _label(
        preview(node.get("role") or "variable", width),
        preview(node.get("data"), width),
        ", ".join(flags),
        grad,
    )


def to_dot(
    source: afnio.Variable | list[afnio.Variable] | GraphView | dict[str, Any],
    *,
    rankdir: str = "TB",
    width: int = 40,
) -> graphviz.Digraph:
    """Draws a backward graph as a ``graphviz.Digraph``.

    Variables are boxes (blue for parameters, green for other leaves that require grad),
    backward nodes grey ellipses; edges follow the gradient, from the root to the leaves.
    Node names are generated (``n0``, ``n1``...) and every text is an escaped label, so any data
    (quotes, backslashes, ``:``, ``<html>``) is drawn as written. Building the DOT source needs
    no Graphviz binaries; rendering it (``.pipe()``, notebook display) does. A GraphView's
    "DOT" button downloads the same text (``js/dot.js`` builds it in the browser).

    Args:
        source: A root Variable, a list of roots, a :class:`~afnio_widgets.GraphView`, or a graph
            dict (e.g. a snapshot loaded with :func:`~afnio_widgets.load_graph`).
        rankdir: Graphviz ``rankdir`` (``"TB"``, ``"LR"``...).
        width: The maximum number of characters per label line.

    Returns:
        The ``graphviz.Digraph``; ``.source`` is the DOT text.

    Example:
        >>> import afnio
        >>> import afnio_widgets
        >>> x = afnio.Variable('say "hi"', role="prompt", requires_grad=True)
        >>> dot = afnio_widgets.to_dot(x + afnio.Variable("!", role="mark"))
        >>> 'say \\\\"hi\\\\"' in dot.source
        True
    """
    graph = as_graph(source)
    dot = graphviz.Digraph("afnio", graph_attr={"rankdir": rankdir})
    dot.attr("node", fontname="Helvetica", fontsize="10", style="filled")
    dot.attr("edge", fontname="Helvetica", fontsize="9", color="#666666")
    names = {node["id"]: f"n{i}" for i, node in enumerate(graph["nodes"])}
    for node in graph["nodes"]:
        if node["kind"] == "function":
            style = _STYLE["function"]
            shape = "ellipse"
        else:
            kind = (
                "parameter"
                if node.get("is_parameter")
                else "leaf"
                if node.get("is_leaf") and node.get("requires_grad")
                else "variable"
            )
            style = _STYLE[kind]
            shape = "box"
        attrs = {"shape": shape, **style}
        if node.get("no_grad"):
            attrs["style"] = "filled,dashed"
        if node.get("is_root"):
            attrs["penwidth"] = "2"
        dot.node(names[node["id"]], label=_node_label(node, width), **attrs)
    for edge in graph["edges"]:
        attrs = {}
        if edge.get("kind") in ("output", "next") and edge.get("output_nr"):
            attrs["headlabel"] = f"output {edge['output_nr']}"
        if not edge.get("requires_grad", True):
            attrs["style"] = "dashed"
        grads = edge.get("grad") or []
        if grads:
            attrs["label"] = _label(feedback_preview(grads[-1]["data"], width))
            attrs["color"] = "#c0392b"
        dot.edge(names[edge["source"]], names[edge["target"]], **attrs)
    return dot
