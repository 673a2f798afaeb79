"""afnio's event loop: async inside, sync outside.

All of afnio's asynchronous work (concurrent backward nodes, batched model calls) runs on one
event loop owned by a daemon thread, started on first use. Blocking entry points hand their
coroutine to that loop and wait. This works the same in a plain script and inside an event loop
that is already running (Jupyter), and keeps async HTTP clients on a single loop for their whole
life.
"""

from __future__ import annotations

import asyncio
import atexit
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from afnio._callsite import caller_frame, calling

__all__ = ["get_loop", "in_loop_thread", "run_sync"]

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_thread: threading.Thread | None = None


def get_loop() -> asyncio.AbstractEventLoop:
    """Returns afnio's event loop, starting its thread on first use."""
    global _loop, _thread
    with _lock:
        if _loop is not None and _thread is not None and _thread.is_alive():
            return _loop
        loop = asyncio.new_event_loop()
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            loop.call_soon(ready.set)
            loop.run_forever()

        thread = threading.Thread(target=run, name="afnio-engine", daemon=True)
        thread.start()
        ready.wait()
        _loop, _thread = loop, thread
        return loop


def in_loop_thread() -> bool:
    """Whether the caller runs on afnio's event loop thread."""
    return _thread is not None and threading.current_thread() is _thread


def run_sync(coro: Coroutine[Any, Any, T]) -> T:
    """Runs ``coro`` on afnio's loop and returns its result, blocking the calling thread.

    An error whose class sets ``raised_for_the_caller`` (such as
    :class:`~afnio.models.ModelCallError`) is re-raised without the frames it went through on
    the loop.

    Raises:
        RuntimeError: When called from afnio's own loop thread (for example from an ``async``
            backward function), where blocking would deadlock; ``await`` the coroutine instead.
    """
    if in_loop_thread():
        coro.close()
        raise RuntimeError(
            "A blocking afnio call was made from inside afnio's event loop (for example from an "
            "async backward function or a hook). Await the async form instead, or make the "
            "backward function synchronous: synchronous backward functions run in a worker "
            "thread, where blocking calls are allowed."
        )
    # The caller's frame travels with the coroutine, so warnings raised on the loop point at it.
    future = asyncio.run_coroutine_threadsafe(calling(coro, caller_frame()), get_loop())
    try:
        return future.result()
    except BaseException as error:
        future.cancel()
        if getattr(error, "raised_for_the_caller", False):
            # An error that explains itself (a model call that failed for good): its traceback
            # starts here, so the caller's own line is near the top, not under a screen of
            # event-loop frames.
            raise error.with_traceback(None)  # noqa: B904 - the same error, not a new one
        raise


def _shutdown() -> None:
    loop = _loop
    if loop is not None and loop.is_running():
        loop.call_soon_threadsafe(loop.stop)


atexit.register(_shutdown)
