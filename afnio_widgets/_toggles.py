"""Switches for autodiff state: :class:`GradModeToggle` (grad mode of the kernel thread).

The ``requires_grad`` switches of leaves live in :class:`~afnio_widgets.GraphView`'s panel; their
kernel side is ``GraphState.set_requires_grad`` (``afnio_widgets/_state.py``).
"""

from __future__ import annotations

import threading
import warnings
from typing import Any

import traitlets

import afnio
from afnio_widgets._sync import SyncedWidget

__all__ = ["GradModeToggle"]


def _ipython() -> Any:
    try:
        from IPython import get_ipython
    except ImportError:  # pragma: no cover - IPython ships with ipywidgets
        return None
    return get_ipython()


class GradModeToggle(SyncedWidget):
    """A switch showing and setting afnio's grad mode for the kernel thread.

    Turning it off is ``afnio.set_grad_enabled(False)``: the cells that follow build no graph
    until it is turned on again. Grad mode is per thread; the switch acts on the thread that
    created it (the one that runs the cells): if the kernel handles the click on another thread,
    the mode is set when the next cell starts. In IPython the switch re-reads the mode after
    every cell, so ``afnio.set_grad_enabled(...)`` in code shows too; :meth:`refresh` does it by
    hand.

    Args:
        label: The text next to the switch.

    Example:
        >>> import afnio
        >>> from afnio_widgets import GradModeToggle
        >>> toggle = GradModeToggle()
        >>> toggle.enabled = False
        >>> afnio.is_grad_enabled()
        False
        >>> toggle.enabled = True
        >>> afnio.is_grad_enabled()
        True
        >>> toggle.close()
    """

    bundle_name = "gradmode.js"

    enabled = traitlets.Bool(True).tag(sync=True)
    """Whether grad mode is on (operations record a backward graph); setting it switches it."""

    label = traitlets.Unicode("grad mode").tag(sync=True)
    """The text next to the switch."""

    def __init__(self, label: str = "grad mode") -> None:
        super().__init__(enabled=afnio.is_grad_enabled(), label=label)
        self._thread = threading.get_ident()
        self._pending: bool | None = None
        self.observe(self._apply, names="enabled")
        self._shell = _ipython()
        if self._shell is not None:
            self._shell.events.register("pre_run_cell", self._before_cell)
            self._shell.events.register("post_run_cell", self._after_cell)

    def _apply(self, change: dict[str, Any]) -> None:
        mode = bool(change["new"])
        if threading.get_ident() == self._thread:
            self._pending = None
            if mode != afnio.is_grad_enabled():
                afnio.set_grad_enabled(mode)
        elif self._shell is not None:
            # The kernel may handle widget messages on another thread than the one running
            # cells, and grad mode is per thread: apply it when the next cell starts.
            self._pending = mode
        else:
            warnings.warn(
                "GradModeToggle was switched from another thread than the one that created it; "
                "grad mode is per thread, so that thread is not affected.",
                RuntimeWarning,
                stacklevel=2,
            )

    def _before_cell(self, *_args: Any) -> None:
        if self._pending is not None and threading.get_ident() == self._thread:
            afnio.set_grad_enabled(self._pending)
            self._pending = None

    def _after_cell(self, *_args: Any) -> None:
        self.refresh()

    def refresh(self) -> None:
        """Shows the current grad mode of the kernel thread (a switch made from another thread
        and not applied yet is kept)."""
        if threading.get_ident() == self._thread and self._pending is None:
            self.enabled = afnio.is_grad_enabled()

    def close(self) -> None:
        """Stops following cells and closes the widget."""
        if getattr(self, "_shell", None) is not None:
            for event, callback in (
                ("pre_run_cell", self._before_cell),
                ("post_run_cell", self._after_cell),
            ):
                try:
                    self._shell.events.unregister(event, callback)
                except ValueError:
                    pass
            self._shell = None
        super().close()
