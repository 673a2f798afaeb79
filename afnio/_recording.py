"""Routes model-call records to the graph node (or optimizer) on whose behalf a call is made.

Function.apply and the backward engine set the current recorder around forward and backward
functions; the model clients hand every finished call to :func:`record_call`. Context variables
carry the recorder into tasks and worker threads, so concurrent calls land on the right node.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable
from typing import Any

__all__ = ["current_owner", "current_phase", "current_recorder", "record_call", "recording_to"]

_recorder: contextvars.ContextVar[Callable[[Any], None] | None] = contextvars.ContextVar(
    "afnio_call_recorder", default=None
)
_phase: contextvars.ContextVar[str | None] = contextvars.ContextVar("afnio_phase", default=None)


class recording_to:  # lower case: used like a function, ``with recording_to(...)``
    """Sends the model-call records made inside the block to ``recorder``.

    ``phase`` says what the calls are for: ``"forward"``, ``"backward"`` or ``"optimizer"``.
    When ``recorder`` is a bound method of a graph node, that node is the one named in errors.
    (A small class rather than a generator: it runs around every operation.)
    """

    __slots__ = ("_phase", "_phase_token", "_recorder", "_token")

    def __init__(self, recorder: Callable[[Any], None] | None, phase: str | None = None) -> None:
        self._recorder = recorder
        self._phase = phase

    def __enter__(self) -> None:
        self._token = _recorder.set(self._recorder)
        self._phase_token = _phase.set(self._phase)

    def __exit__(self, *exc: object) -> None:
        _phase.reset(self._phase_token)
        _recorder.reset(self._token)


def current_recorder() -> Callable[[Any], None] | None:
    """Returns the recorder in effect, if any."""
    return _recorder.get()


def current_phase() -> str | None:
    """Returns the phase of the recorder in effect: forward, backward, optimizer, or None."""
    return _phase.get()


def current_owner() -> Any:
    """Returns the object (usually a graph node) whose recorder is in effect, if any."""
    return getattr(_recorder.get(), "__self__", None)


def record_call(record: Any) -> None:
    """Hands ``record`` to the recorder in effect (does nothing outside any)."""
    recorder = _recorder.get()
    if recorder is not None:
        recorder(record)
