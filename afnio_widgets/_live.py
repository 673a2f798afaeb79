"""Live views: :func:`trace` shows a view that grows as the operations of a block run."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from afnio_widgets._graphview import GraphView

__all__ = ["trace"]


@contextmanager
def trace(*, display: bool = True, **view_options: Any) -> Iterator[GraphView]:
    """Shows a live :class:`~afnio_widgets.GraphView` that grows as operations run in the block.

    Every operation recorded inside the block (and the history of its inputs) is added to the
    view; operations that run without grad (``afnio.no_grad()``) appear dashed. Updates are
    batched (the view's ``graph`` trait changes at most 12.5 times a second). After the block
    the view stops adding new operations but keeps following ``backward()`` passes through its
    nodes.

    Args:
        display: Display the view at the start of the block (in Jupyter).
        **view_options: Passed to :class:`~afnio_widgets.GraphView` (``height``, ``max_nodes``,
            ``title``...).

    Yields:
        The view.

    Example:
        >>> import afnio
        >>> import afnio_widgets
        >>> x = afnio.Variable("a", role="letter", requires_grad=True)
        >>> with afnio_widgets.trace(display=False) as view:
        ...     for _ in range(3):
        ...         x = x + afnio.Variable("b", role="letter")
        >>> sum(n["kind"] == "function" for n in view.graph["nodes"])
        4
        >>> view.close()
    """
    view = GraphView(None, live=True, **view_options)
    if display:
        from IPython.display import display as show

        show(view)
    try:
        yield view
    finally:
        view.stop_tracing()
