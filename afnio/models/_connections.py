"""What an OpenAI-compatible client owns, and how it is released.

A client owns its SDK client and, for ``OpenAI``, its worker threads. ``close()``
(or a ``with`` block) releases them; a client that is simply dropped releases them too, on afnio's
loop, while its sockets are still open. Leaving that to the garbage collector is not safe: the
SDK's async HTTP client closes itself from ``__del__`` by scheduling ``aclose()``, after the
collector has already closed the sockets of its transports; ``aclose()`` then unregisters those
transports' file descriptors from the event loop, and a descriptor number that a newer connection
reuses in the meantime loses its reader: that request would wait for ever.

Async clients still open when the interpreter exits are closed on afnio's loop before it stops
(:func:`close_at_exit`), so that their HTTP sessions end cleanly: aiohttp, the async SDK's HTTP
stack when installed (see :mod:`afnio.models._transport`), reports a session left open at exit.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import weakref
from typing import Any

from afnio import _runtime

__all__ = ["Resources", "close_at_exit", "release_dropped"]

EXIT_TIMEOUT = 2.0
"""Longest wait, in seconds, for the clients still open at exit to close."""

_open_async: weakref.WeakSet[Resources] = weakref.WeakSet()


class Resources:
    """What a client must release: the SDK client and, for sync clients, the worker threads.

    Kept apart from the client object so that a ``weakref.finalize`` on the client can release
    them after the client itself is gone.
    """

    __slots__ = ("__weakref__", "closed", "executor", "is_async", "sdk")

    def __init__(self, sdk: Any, is_async: bool) -> None:
        self.sdk = sdk
        self.is_async = is_async
        self.executor: concurrent.futures.ThreadPoolExecutor | None = None
        self.closed = False
        if is_async:
            _open_async.add(self)

    def start_closing(self) -> Any:
        """Marks the resources closed, stops the worker threads and closes the SDK client.

        Returns what the SDK's ``close()`` returns: a coroutine to await for the async SDK.
        """
        self.closed = True
        if self.executor is not None:
            self.executor.shutdown(wait=False)
        return self.sdk.close()

    async def aclose(self) -> None:
        if self.closed:
            return
        result = self.start_closing()
        if asyncio.iscoroutine(result):
            await result


def release_dropped(resources: Resources) -> None:
    """Finalizer of a dropped client: closes its connections while their sockets are open."""
    if resources.closed:
        return
    if not resources.is_async:
        resources.start_closing()
        return
    loop = _runtime._loop
    if loop is None or loop.is_closed() or not loop.is_running():
        return  # no loop ever ran a call for it: it holds no connection
    asyncio.run_coroutine_threadsafe(resources.aclose(), loop)


def close_at_exit() -> None:
    """Closes the async clients still open, on afnio's loop, before the loop stops at exit."""
    loop = _runtime._loop
    if loop is None or loop.is_closed() or not loop.is_running():
        return
    pending = [r for r in list(_open_async) if not r.closed]
    if not pending:
        return

    async def close_all() -> None:
        await asyncio.gather(*(r.aclose() for r in pending), return_exceptions=True)

    future = asyncio.run_coroutine_threadsafe(close_all(), loop)
    try:
        future.result(EXIT_TIMEOUT)
    except Exception:  # exiting: a client that cannot close in time is left to the OS
        future.cancel()


# Registered after afnio's loop's own exit handler, so it runs first (atexit is last-in,
# first-out), while the loop still runs.
atexit.register(close_at_exit)
