"""The user's line that started an afnio call, for warnings raised on afnio's event loop.

Model calls run on afnio's loop thread (:mod:`afnio._runtime`), where no frame of the caller's
code is on the stack, so ``warnings.warn(..., stacklevel=n)`` can only point at afnio itself.
The blocking entry points remember the frame that called them (:func:`calling`) and carry it to
the loop in a context variable; :func:`warn` then attributes the warning to the first frame of
that stack outside afnio (and outside asyncio, threading...), as ``warnings.warn`` would in a
single-threaded library.
"""

from __future__ import annotations

import contextvars
import sys
import warnings
from collections.abc import Coroutine
from types import FrameType
from typing import Any, TypeVar

__all__ = ["caller_frame", "calling", "user_frame", "warn"]

T = TypeVar("T")

_site: contextvars.ContextVar[FrameType | None] = contextvars.ContextVar(
    "afnio_call_site", default=None
)
_INTERNAL = ("afnio.", "afnio_widgets.", "asyncio.", "concurrent.", "threading", "contextlib")


def _internal(frame: FrameType) -> bool:
    name = frame.f_globals.get("__name__", "")
    return name in ("afnio", "afnio_widgets") or str(name).startswith(_INTERNAL)


def user_frame(frame: FrameType | None) -> FrameType | None:
    """The first frame of ``frame``'s stack (``frame`` included) that is not afnio's own."""
    while frame is not None and _internal(frame):
        frame = frame.f_back
    return frame


async def calling(coro: Coroutine[Any, Any, T], frame: FrameType | None) -> T:
    """Runs ``coro`` with ``frame`` (the caller of a blocking entry point) as its call site.

    An outer call site wins: a model call made inside ``loss.backward()`` is attributed to the
    user's ``backward()`` line, not to afnio's inner blocking calls.
    """
    if frame is None or _site.get() is not None:
        return await coro
    token = _site.set(frame)
    try:
        return await coro
    finally:
        _site.reset(token)


def caller_frame(depth: int = 2) -> FrameType | None:
    """The frame ``depth`` levels above the caller of this function."""
    try:
        return sys._getframe(depth)
    except ValueError:
        return None


def warn(message: str, category: type[Warning] = UserWarning) -> None:
    """Emits ``message`` attributed to the user's line of the current call site.

    Outside any call site (a plain ``await`` on afnio's loop) it is attributed as
    ``warnings.warn(message, category, stacklevel=3)`` would.
    """
    frame = user_frame(_site.get())
    if frame is None:
        warnings.warn(message, category, stacklevel=3)
        return
    module_globals = frame.f_globals
    registry = module_globals.setdefault("__warningregistry__", {})
    warnings.warn_explicit(
        message,
        category,
        frame.f_code.co_filename,
        frame.f_lineno,
        module=module_globals.get("__name__"),
        registry=registry,
        module_globals=module_globals,
    )
