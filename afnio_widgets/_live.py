"""Live updates: a thread-safe throttle for outgoing messages, and :func:`trace`.

Graph events arrive from the kernel thread and from afnio's engine thread; sending one comm
message per event would flood the front-end. :class:`Throttle` coalesces them: the first change
arms a timer, and the timer thread sends one patch with everything that changed, at most
``1 / interval`` times per second.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from afnio_widgets._graphview import GraphView

__all__ = ["Throttle", "trace"]


class Throttle:
    """Calls ``flush()`` at most once per ``interval`` seconds after :meth:`poke`.

    ``poke()`` may be called from any thread and returns at once; ``flush()`` runs on a timer
    thread (or on the caller's thread in :meth:`flush_now`), never twice at the same time.

    Args:
        flush: The function that sends what changed.
        interval: The minimum time between two flushes, in seconds.

    Example:
        >>> calls = []
        >>> throttle = Throttle(lambda: calls.append(1), interval=0.05)
        >>> for _ in range(1000):
        ...     throttle.poke()
        >>> throttle.flush_now()
        >>> throttle.close()
        >>> len(calls) <= 2
        True
    """

    def __init__(self, flush: Callable[[], Any], interval: float = 0.1) -> None:
        self._flush = flush
        self.interval = interval
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._last = 0.0
        self._closed = False
        self.flushes = 0

    def poke(self) -> None:
        """Schedules a flush (no-op if one is already scheduled)."""
        with self._lock:
            if self._timer is not None or self._closed:
                return
            delay = max(0.0, self._last + self.interval - time.monotonic())
            self._timer = threading.Timer(delay, self._fire)
            self._timer.daemon = True
            self._timer.start()

    def _fire(self) -> None:
        with self._lock:
            self._timer = None
            if self._closed:
                return
        self._run()

    def _run(self) -> None:
        with self._flush_lock:
            self._last = time.monotonic()
            self.flushes += 1
            self._flush()

    def flush_now(self) -> None:
        """Cancels a scheduled flush and flushes on the calling thread."""
        with self._lock:
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None
        self._run()

    def close(self) -> None:
        """Cancels a scheduled flush; later pokes do nothing."""
        with self._lock:
            self._closed = True
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None


@contextmanager
def trace(*, display: bool = True, **view_options: Any) -> Iterator[GraphView]:
    """Shows a live :class:`~afnio_widgets.GraphView` that grows as operations run in the block.

    Every operation recorded inside the block (and the history of its inputs) is added to the
    view; operations that run without grad (``afnio.no_grad()``) appear dashed. Updates are
    batched (at most ten messages per second). After the block the view stops adding new
    operations but keeps following ``backward()`` passes through its nodes.

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
    from afnio_widgets._graphview import GraphView

    view = GraphView(None, live=True, **view_options)
    if display:
        from IPython.display import display as show

        show(view)
    try:
        yield view
    finally:
        view.stop_tracing()
