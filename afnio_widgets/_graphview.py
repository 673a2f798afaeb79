"""The :class:`GraphView` widget: an interactive backward graph in Jupyter."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import traitlets

import afnio
from afnio.autodiff.graph import GraphEvent, register_graph_observer
from afnio_widgets._graph import as_roots
from afnio_widgets._snapshot import load_graph, to_json
from afnio_widgets._state import GraphState
from afnio_widgets._sync import SyncedWidget, Throttle

__all__ = ["GraphView"]


class GraphView(SyncedWidget):
    """The backward graph of one or more Variables, drawn in the notebook.

    Variable nodes show their role, a data preview (batches as an item count), and whether they
    require grad, are leaves or parameters; function nodes show the backward node's name
    (``AddBackward0``, ``AccumulateGrad``...). Edges follow ``next_functions``. Pan with the
    mouse, zoom with the wheel, fit with the toolbar; long chains, wide fans and anything beyond
    :attr:`max_nodes` are collapsed into nodes you can click to expand.

    Click a node for its full data, its textual gradients and the model calls it made; leaves
    get a ``requires_grad`` switch that changes the Variable in the kernel (a non-leaf refuses
    with afnio's error). During ``backward()`` nodes light up as the engine visits them, and
    gradients appear on the nodes and edges they flowed along.

    Changes made in Python (``x.requires_grad = False``, new data, ``zero_grad()``) show with
    the next graph event or when you call :meth:`refresh`.

    What the view draws is its synced :attr:`graph` trait, so a notebook saved with its widget
    state (and its HTML export) shows the graph without a kernel.

    Args:
        roots: The Variable (or list of Variables) whose history to draw; ``None`` for an empty
            view (with ``live=True``, see :func:`afnio_widgets.trace`).
        live: Also add every operation recorded from now on (until :meth:`stop_tracing`).
        height: Height of the view in pixels.
        max_nodes: The most nodes drawn at once; the rest is collapsed.
        collapse: Collapse long chains and wide fans of inputs.
        title: A title shown in the toolbar.
        layout_engine: ``"auto"`` (Graphviz ``dot``, with limits and a ``sfdp`` fallback for
            large or slow layouts), ``"dot"`` or ``"sfdp"``.

    Raises:
        TypeError: If ``roots`` is not a Variable, a list of Variables or ``None``.

    Example:
        >>> import afnio
        >>> import afnio.cognitive.functional as F
        >>> from afnio_widgets import GraphView
        >>> a = afnio.Variable("Hello", role="greeting", requires_grad=True)
        >>> b = afnio.Variable("world", role="subject")
        >>> view = GraphView(F.sum([a, b]))
        >>> sorted(n.get("name") or n["role"] for n in view.graph["nodes"])
        ['AccumulateGrad', 'SumBackward0', 'greeting', 'greeting and subject', 'subject']
        >>> view.close()
    """

    bundle_name = "widget.js"

    graph_json = traitlets.Unicode("").tag(sync=True)
    """What the view draws: the graph as a contract dict (see docs/widgets.md) in JSON text, long
    texts cut (``partial`` marks cut nodes and edges; the panel asks the kernel for the rest).
    Text rather than a dict because publishing it then costs a string copy, not a walk over
    every node. Updated at most 12.5 times a second while the graph changes, and before every
    cell ends. Read-only; :attr:`graph` is the same, parsed."""

    height = traitlets.Int(520).tag(sync=True)
    """Height of the view in pixels; the graph pans and zooms inside it."""

    max_nodes = traitlets.Int(300).tag(sync=True)
    """The most nodes drawn at once; the rest is collapsed behind "more" nodes."""

    collapse = traitlets.Bool(True).tag(sync=True)
    """Whether long chains and wide fans of inputs are collapsed (click one to expand it)."""

    selected = traitlets.Unicode("").tag(sync=True)
    """The id of the selected node or edge (``""`` for none); set it to select from Python."""

    title = traitlets.Unicode("").tag(sync=True)
    """A title shown in the toolbar."""

    layout_engine = traitlets.Enum(["auto", "dot", "sfdp"], "auto").tag(sync=True)
    """``"auto"``: ``dot`` with limits for large graphs and ``sfdp`` when that is too slow."""

    live = traitlets.Bool(False, read_only=True).tag(sync=True)
    """Whether new operations are being added to the view (read-only)."""

    editable = traitlets.Bool(True, read_only=True).tag(sync=True)
    """Whether the view is backed by kernel Variables, so its switches work (read-only;
    ``False`` for views reopened from a snapshot)."""

    def __init__(
        self,
        roots: afnio.Variable | Sequence[afnio.Variable] | None = None,
        *,
        live: bool = False,
        height: int = 520,
        max_nodes: int = 300,
        collapse: bool = True,
        title: str = "",
        layout_engine: str = "auto",
        _graph: dict[str, Any] | None = None,
    ) -> None:
        root_list = as_roots(roots)
        self._state = GraphState(live=bool(live), hooks=_graph is None)
        if _graph is not None:
            self._state.load(_graph)
        else:
            self._state.add_roots(root_list)
        super().__init__(
            graph_json=self._state.take_published(),
            height=height,
            max_nodes=max_nodes,
            collapse=collapse,
            title=title,
            layout_engine=layout_engine,
        )
        self.set_trait("live", bool(live))
        self.set_trait("editable", _graph is None)
        self._throttle = Throttle(self._publish)
        self._observer = None if _graph is not None else register_graph_observer(self._on_event)

    # -- public API -----------------------------------------------------------------------------
    @property
    def graph(self) -> dict[str, Any]:
        """What the view draws: :attr:`graph_json` parsed (the contract dict, long texts cut).

        Example:
            >>> import afnio
            >>> from afnio_widgets import GraphView
            >>> x = afnio.Variable("a", role="x", requires_grad=True)
            >>> view = GraphView(x + x)
            >>> [n.get("name") or n["role"] for n in view.graph["nodes"]]
            ['x and x', 'AddBackward0', 'AccumulateGrad', 'x']
            >>> view.close()
        """
        text = self.graph_json
        cached = getattr(self, "_parsed", None)
        if cached is None or cached[0] is not text:
            cached = (text, json.loads(text) if text else {})
            self._parsed = cached
        return cached[1]

    def to_dict(self) -> dict[str, Any]:
        """The whole graph as a contract dict, long texts uncut (:attr:`graph` is the same graph
        as drawn, texts cut).

        Example:
            >>> import afnio
            >>> from afnio_widgets import GraphView
            >>> x = afnio.Variable("a" * 5000, role="long", requires_grad=True)
            >>> view = GraphView(x + x)
            >>> [len(n["data"]) for n in view.to_dict()["nodes"] if n["kind"] == "variable"]
            [10000, 5000]
            >>> [len(n["data"]) for n in view.graph["nodes"] if n["kind"] == "variable"]
            [2000, 2000]
            >>> view.close()
        """
        self.flush()
        return self._state.snapshot()

    @classmethod
    def from_json(cls, source: Any, **options: Any) -> GraphView:
        """Reopens a snapshot made by :func:`afnio_widgets.to_json` (no model is called).

        Args:
            source: JSON text, a path to a JSON file, or a parsed graph dict.
            **options: View options (``height``, ``max_nodes``, ``title``...).

        Returns:
            A read-only view: its switches are disabled, as there is no Variable behind it.

        Example:
            >>> import afnio
            >>> import afnio_widgets
            >>> x = afnio.Variable("a", requires_grad=True)
            >>> view = afnio_widgets.GraphView.from_json(afnio_widgets.to_json(x + x))
            >>> view.editable, len(view.graph["nodes"])
            (False, 4)
            >>> view.close()
        """
        return cls(None, _graph=load_graph(source), **options)

    def to_json(self, indent: int | None = None) -> str:
        """This view's graph as a JSON snapshot (:meth:`to_dict` as JSON, see
        :func:`afnio_widgets.to_json`)."""
        return to_json(self.to_dict(), indent=indent)

    def node_id(self, obj: afnio.Variable | afnio.Node) -> str | None:
        """The id of a Variable or backward node in this view (``None`` if not shown).

        Example:
            >>> import afnio
            >>> from afnio_widgets import GraphView
            >>> x = afnio.Variable("a", requires_grad=True)
            >>> y = x + x
            >>> view = GraphView(y)
            >>> view.node_id(y), view.node_id(y.grad_fn)
            ('n0', 'n1')
            >>> view.close()
        """
        return self._state.id_of(obj)

    def refresh(self, force: bool = True) -> None:
        """Re-reads every Variable shown and publishes what changed (e.g. after setting
        ``requires_grad`` or new data in Python).

        Args:
            force: Also rebuild fields whose cheap fingerprint did not change (in-place edits).
        """
        self._state.refresh(force=force)
        self.flush()

    def stop_tracing(self) -> None:
        """Stops adding new operations (the view keeps following backward passes)."""
        self._state.live = False
        self.set_trait("live", False)
        self.flush()

    def flush(self) -> None:
        """Publishes pending changes to :attr:`graph` now instead of at the next scheduled
        update (it also happens after every cell)."""
        if hasattr(self, "_throttle"):
            self._throttle.flush_now()

    def close(self) -> None:
        """Stops observing the graph, removes the gradient hooks and closes the widget."""
        self._stop_updates()
        if hasattr(self, "_state"):
            self._state.close()
        super().close()

    # -- plumbing -------------------------------------------------------------------------------
    def _on_event(self, event: GraphEvent) -> None:
        if not self._state.handle_event(event):
            return
        if event.kind == "backward_finished":
            self.flush()  # the final state is published before backward() returns
        else:
            self._throttle.poke()

    def _publish(self) -> int:
        """Publishes what changed; returns the size of what was sent (0 for nothing)."""
        text = self._state.take_published()
        if text is None:
            return 0
        self.graph_json = text
        return len(text)

    def _on_message(self, content: dict[str, Any]) -> None:
        kind = content.get("type")
        if kind == "set_requires_grad":
            if not self.editable:
                return
            node_id = str(content.get("id"))
            error = self._state.set_requires_grad(node_id, bool(content.get("value")))
            self.flush()
            self.send({"type": "toggled", "id": node_id, "error": error})
        elif kind == "refresh":
            self.refresh()
        elif kind == "details":
            node_id = str(content.get("id"))
            item = self._state.node(node_id) or self._state.edge(node_id)
            if item is not None:
                self.send({"type": "details", "id": node_id, "item": item})
