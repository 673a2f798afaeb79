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
    future = asyncio.run_coroutine_threadsafe(coro, get_loop())
    try:
        return future.result()
    except BaseException:
        future.cancel()
        raise


def _shutdown() -> None:
    loop = _loop
    if loop is not None and loop.is_running():
        loop.call_soon_threadsafe(loop.stop)


atexit.register(_shutdown)
