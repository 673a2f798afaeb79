"""What every afnio widget shares: its front-end comes from a shared :class:`Bundle`, what it
draws lives in synced traits, and the traits are up to date when a cell finishes.

There is no protocol of our own: the widget sets its traits (throttled by :class:`Throttle`:
graph events arrive from the kernel thread and from afnio's engine thread, and publishing on
every event would flood the front-end) and Jupyter's widget machinery carries them to the
browser, into the notebook's saved widget state and into HTML exports. Custom messages are only
requests and their answers: ``ping``/``pong`` (is a kernel behind this view, or is it a saved
copy?) and each widget's own (``details``, ``set_requires_grad``...).
"""

from __future__ import annotations

import math
import os
import threading
import time
import weakref
from collections.abc import Callable
from typing import Any, ClassVar

import anywidget
import ipywidgets
import traitlets

from afnio_widgets._assets import Bundle, bundle, shared_bundle

__all__ = [
    "BYTES_PER_SECOND",
    "DEFAULT_INTERVAL",
    "SyncedWidget",
    "Throttle",
    "flush_all",
    "update_interval",
]

DEFAULT_INTERVAL = 0.08
"""Seconds between two updates of a view (12.5 a second) unless ``AFNIO_WIDGETS_INTERVAL`` says
otherwise."""

BYTES_PER_SECOND = 10_000_000
"""How much synced state a view publishes per second at most. Every update travels whole from
the kernel through the Jupyter server to the page, which parses it, so a graph of thousands of
nodes (~1 MB a copy) is sent less often than a small one instead of keeping the kernel, the
server and the page busy with copies the page will skip."""


def update_interval() -> float:
    """The interval between two updates of a view: ``AFNIO_WIDGETS_INTERVAL`` (seconds) if set,
    else :data:`DEFAULT_INTERVAL`.

    Raises:
        ValueError: If ``AFNIO_WIDGETS_INTERVAL`` is not a positive number of seconds.
    """
    raw = os.environ.get("AFNIO_WIDGETS_INTERVAL", "").strip()
    if not raw:
        return DEFAULT_INTERVAL
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ValueError(
            f"AFNIO_WIDGETS_INTERVAL must be a positive number of seconds (e.g. 0.1), got {raw!r}"
        )
    return value


class Throttle:
    """Calls ``flush()`` at most once per ``interval`` seconds after :meth:`poke`.

    ``poke()`` may be called from any thread and returns at once; ``flush()`` runs on a timer
    thread (or on the caller's thread in :meth:`flush_now`), never twice at the same time. Two
    scheduled flushes start at least ``interval`` apart (so a steady stream of pokes is flushed
    ``1 / interval`` times a second), and a flush starts at least three times as long after the
    previous one ended as that one took (so publishing never takes more than a quarter of the
    time). When ``flush()`` returns how many bytes it published, the next flush also waits until
    they went out at ``bytes_per_second`` (a large graph is published less often).

    Args:
        flush: The function that publishes what changed.
        interval: The minimum time between the starts of two flushes, in seconds (default:
            :func:`update_interval`).
        bytes_per_second: The most a flush that returns its size may publish per second.

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

    def __init__(
        self,
        flush: Callable[[], Any],
        interval: float | None = None,
        *,
        bytes_per_second: float = BYTES_PER_SECOND,
    ) -> None:
        self._flush = flush
        self.interval = update_interval() if interval is None else interval
        self.bytes_per_second = bytes_per_second
        self._size = 0
        self._lock = threading.Lock()
        self._flush_lock = threading.Lock()
        self._timer: threading.Timer | None = None
        self._started = -float("inf")
        self._last = -float("inf")
        self._took = 0.0
        self._closed = False
        self.flushes = 0

    def poke(self) -> None:
        """Schedules a flush (no-op if one is already scheduled)."""
        with self._lock:
            if self._timer is not None or self._closed:
                return
            self._arm(self._wait())

    def _wait(self) -> float:
        gap = max(self.interval, self._size / self.bytes_per_second)
        due = max(self._started + gap, self._last + 3 * self._took)
        return due - time.monotonic()

    def _arm(self, delay: float) -> None:
        self._timer = threading.Timer(max(0.0, delay), self._fire)
        self._timer.daemon = True
        self._timer.start()

    def _fire(self) -> None:
        with self._flush_lock:
            with self._lock:
                if self._closed:
                    self._timer = None
                    return
                wait = self._wait()
                if wait > 0.001:  # a flush ran since this timer was armed: wait for its gap
                    self._arm(wait)
                    return
                self._timer = None
            self._run()

    def _run(self) -> None:
        """Flushes; the caller holds ``_flush_lock``."""
        self._started = time.monotonic()
        self.flushes += 1
        self._size = 0
        try:
            sent = self._flush()
            if isinstance(sent, int) and not isinstance(sent, bool):
                self._size = sent
        finally:
            self._last = time.monotonic()
            self._took = self._last - self._started

    def flush_now(self) -> None:
        """Cancels a scheduled flush and flushes on the calling thread."""
        with self._flush_lock:
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


_open: weakref.WeakSet[SyncedWidget] = weakref.WeakSet()
_open_lock = threading.RLock()
_shells: weakref.WeakSet[Any] = weakref.WeakSet()


def flush_all(*_args: Any) -> None:
    """Publishes the pending changes of every open widget (runs after every IPython cell, so
    that a notebook executed and saved holds every view's final state)."""
    with _open_lock:
        widgets = list(_open)
    for widget in widgets:
        widget.flush()


def _follow_cells() -> None:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with ipywidgets
        return
    shell = get_ipython()
    if shell is None or shell in _shells:
        return
    shell.events.register("post_run_cell", flush_all)
    _shells.add(shell)


class SyncedWidget(anywidget.AnyWidget):
    """Base class of afnio's widgets: a tiny ``_esm`` that runs the shared bundle
    :attr:`bundle_name`, ``ping`` answered with ``pong``, and :meth:`flush` called after every
    cell. Subclasses override :meth:`flush` and :meth:`_on_message`."""

    bundle_name: ClassVar[str] = ""

    _observer_attributes: ClassVar[tuple[str, ...]] = ("_observer",)
    """The attributes that hold what the widget observes: a handle with ``remove()``, or None.
    :meth:`_stop_updates` removes them, and closes the :class:`Throttle` held in ``_throttle``."""

    _esm = bundle("loader.js")

    _bundle = traitlets.Instance(Bundle).tag(sync=True, **ipywidgets.widget_serialization)
    """The shared model holding this widget's front-end code."""

    def __init__(self, **traits: Any) -> None:
        super().__init__(_bundle=shared_bundle(self.bundle_name), **traits)
        self.on_msg(self._on_custom)
        with _open_lock:
            _open.add(self)
        _follow_cells()

    def flush(self) -> None:
        """Publishes pending changes to the synced traits now."""

    def _stop_updates(self) -> None:
        """Removes the observers (:attr:`_observer_attributes`) and closes the throttle; what
        ``__init__`` did not get to set is skipped (``close()`` also runs from ``__del__``)."""
        for name in self._observer_attributes:
            observer = getattr(self, name, None)
            if observer is not None:
                observer.remove()
                setattr(self, name, None)
        throttle = getattr(self, "_throttle", None)
        if throttle is not None:
            throttle.close()

    def close(self) -> None:
        """Closes the widget."""
        with _open_lock:
            _open.discard(self)
        super().close()

    def _on_custom(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if not isinstance(content, dict):
            return
        if content.get("type") == "ping":
            self.send({"type": "pong"})
        else:
            self._on_message(content)

    def _on_message(self, content: dict[str, Any]) -> None:
        """Handles a request from the front-end (``content["type"]`` says which)."""
