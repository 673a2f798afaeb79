"""JSON snapshots of a graph: gradients and model calls included, reopened without any model."""

from __future__ import annotations

import json
import os
import pathlib
from typing import Any, Protocol, runtime_checkable

import afnio
from afnio_widgets._graph import FORMAT, IDLE, VERSION, graph_to_dict

__all__ = ["GraphSource", "as_graph", "load_graph", "to_json"]


@runtime_checkable
class GraphSource(Protocol):
    """Anything with a ``to_dict()`` giving a graph contract dict, such as a
    :class:`~afnio_widgets.GraphView`."""

    def to_dict(self) -> dict[str, Any]: ...


def as_graph(source: Any) -> dict[str, Any]:
    """The graph dict of a Variable, a list of Variables, a GraphView or a graph dict."""
    if isinstance(source, dict):
        return load_graph(source)
    if isinstance(source, GraphSource):
        return source.to_dict()
    return graph_to_dict(source)


def to_json(
    source: afnio.Variable | list[afnio.Variable] | GraphSource | dict[str, Any],
    indent: int | None = None,
) -> str:
    """A JSON snapshot of a graph, with its gradients and model calls.

    Reopen it later, without the Variables or any model, with
    :meth:`GraphView.from_json <afnio_widgets.GraphView.from_json>`; draw it with
    :func:`~afnio_widgets.to_dot`. A view's snapshot also holds the gradients it saw flowing
    along edges during ``backward()``.

    Args:
        source: A root Variable, a list of roots, a :class:`~afnio_widgets.GraphView`, or a
            graph dict.
        indent: Passed to :func:`json.dumps`.

    Returns:
        The JSON text (format ``afnio-graph``, documented in docs/widgets.md).

    Example:
        >>> import afnio
        >>> import afnio_widgets
        >>> x = afnio.Variable("Hi", role="greeting", requires_grad=True)
        >>> text = afnio_widgets.to_json(x + x)
        >>> afnio_widgets.load_graph(text)["nodes"][1]["name"]
        'AddBackward0'
    """
    return json.dumps(as_graph(source), indent=indent, ensure_ascii=False)


def load_graph(source: str | bytes | os.PathLike[str] | dict[str, Any]) -> dict[str, Any]:
    """Reads and checks a graph snapshot.

    Args:
        source: JSON text, a path to a JSON file, or an already parsed dict.

    Returns:
        The graph dict.

    Raises:
        ValueError: If it is not an ``afnio-graph`` snapshot this version can read, or if an
            edge refers to a node that is not in it.

    Example:
        >>> load_graph('{"format": "afnio-graph", "version": 1, "nodes": [], "edges": []}')["roots"]
        []
    """
    if isinstance(source, os.PathLike):
        source = pathlib.Path(source).read_text(encoding="utf-8")
    if isinstance(source, (str, bytes)):
        try:
            graph = json.loads(source)
        except json.JSONDecodeError as exc:
            raise ValueError(f"Not a JSON graph snapshot: {exc}.") from exc
    else:
        graph = source
    if not isinstance(graph, dict) or graph.get("format") != FORMAT:
        raise ValueError(
            f"Expected a graph snapshot with format {FORMAT!r} (made by afnio_widgets.to_json), "
            f"but got {str(graph)[:80]!r}."
        )
    if graph.get("version") != VERSION:
        raise ValueError(
            f"This is a version {graph.get('version')!r} graph snapshot; this afnio_widgets "
            f"reads version {VERSION}. Upgrade afnio to open it."
        )
    nodes = graph.get("nodes")
    edges = graph.get("edges")
    if not isinstance(nodes, list) or not isinstance(edges, list):
        raise ValueError("A graph snapshot needs `nodes` and `edges` lists.")
    ids = {node.get("id") for node in nodes if isinstance(node, dict)}
    for edge in edges:
        if (
            not isinstance(edge, dict)
            or edge.get("source") not in ids
            or edge.get("target") not in ids
        ):
            raise ValueError(f"Edge {str(edge)[:80]!r} refers to a node missing from the snapshot.")
    graph.setdefault("roots", [])
    graph.setdefault("backward", dict(IDLE))
    return graph
