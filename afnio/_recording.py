"""Routes model-call records to the graph node (or optimizer) on whose behalf a call is made.

Function.apply and the backward engine set the current recorder around forward and backward
functions; the model clients hand every finished call to :func:`record_call`. Context variables
carry the recorder into tasks and worker threads, so concurrent calls land on the right node.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

__all__ = ["current_owner", "current_phase", "current_recorder", "record_call", "recording_to"]

_recorder: contextvars.ContextVar[Callable[[Any], None] | None] = contextvars.ContextVar(
    "afnio_call_recorder", default=None
)
_phase: contextvars.ContextVar[str | None] = contextvars.ContextVar("afnio_phase", default=None)


@contextmanager
def recording_to(
    recorder: Callable[[Any], None] | None, phase: str | None = None
) -> Iterator[None]:
    """Sends the model-call records made inside the block to ``recorder``.

    ``phase`` says what the calls are for: ``"forward"``, ``"backward"`` or ``"optimizer"``.
    When ``recorder`` is a bound method of a graph node, that node is the one named in errors.
    """
    token = _recorder.set(recorder)
    phase_token = _phase.set(phase)
    try:
        yield
    finally:
        _phase.reset(phase_token)
        _recorder.reset(token)


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
