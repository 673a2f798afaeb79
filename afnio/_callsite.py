"""The user's line that started an afnio call, for warnings raised on afnio's event loop.

Model calls run on afnio's loop thread (:mod:`afnio._runtime`), where no frame of the caller's
code is on the stack, so ``warnings.warn(..., stacklevel=n)`` can only point at afnio itself.
The blocking entry points find the first frame of their caller's stack outside afnio (and
outside asyncio, threading...) and carry its file, line and module globals to the loop in a
context variable (:func:`calling`); :func:`warn` then attributes the warning to that line, as
``warnings.warn`` would in a single-threaded library.

Only that small record travels, never the frame itself: asyncio copies the current context into
every callback and timer it schedules, and a copy can outlive the call (a cancelled timer waits in
the loop's queue), so a frame there would keep every local of the caller's stack alive —
clients included, which are then never closed when dropped.
"""

from __future__ import annotations

import contextvars
import sys
import warnings
from collections.abc import Coroutine
from types import FrameType
from typing import Any, NamedTuple, TypeVar

__all__ = ["CallSite", "call_site", "caller_frame", "calling", "user_frame", "warn"]

T = TypeVar("T")


class CallSite(NamedTuple):
    """The user's line a call came from: no frame, so nothing of the stack is kept alive."""

    filename: str
    lineno: int
    module_globals: dict[str, Any]


_site: contextvars.ContextVar[CallSite | None] = contextvars.ContextVar(
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


def call_site(frame: FrameType | None) -> CallSite | None:
    """The call site of the first frame of ``frame``'s stack that is not afnio's own."""
    user = user_frame(frame)
    if user is None:
        return None
    return CallSite(user.f_code.co_filename, user.f_lineno, user.f_globals)


def calling(coro: Coroutine[Any, Any, T], frame: FrameType | None) -> Coroutine[Any, Any, T]:
    """``coro``, run with ``frame``'s user line (the caller of a blocking or awaited entry
    point) as its call site.

    The call site is read now, while the caller's stack is whole: once the caller awaits, its
    coroutine frames are suspended and no longer link to the frames that called them. An outer
    call site wins: a model call made inside ``loss.backward()`` is attributed to the user's
    ``backward()`` line, not to afnio's inner blocking calls.
    """
    site = None if frame is None else call_site(frame)
    del frame  # the coroutine may run long: keep no frame of the caller alive
    return _at_site(coro, site)


async def _at_site(coro: Coroutine[Any, Any, T], site: CallSite | None) -> T:
    if site is None or _site.get() is not None:
        return await coro
    token = _site.set(site)
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
    site = _site.get()
    if site is None:
        warnings.warn(message, category, stacklevel=3)
        return
    module_globals = site.module_globals
    registry = module_globals.setdefault("__warningregistry__", {})
    warnings.warn_explicit(
        message,
        category,
        site.filename,
        site.lineno,
        module=module_globals.get("__name__"),
        registry=registry,
        # No module_globals: a module's loader may have no source to give (``python -``'s
        # __main__ raises ImportError); a handler that shows the line finds it by file name.
    )
