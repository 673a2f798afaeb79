"""What an OpenAI-compatible client owns, and how it is released.

A client owns its SDK client and, for ``OpenAI``, its worker threads. ``close()``
(or a ``with`` block) releases them; a client that is simply dropped releases them too, on afnio's
loop, while its sockets are still open. Leaving that to the garbage collector is not safe: the
SDK's async HTTP client closes itself from ``__del__`` by scheduling ``aclose()``, after the
collector has already closed the sockets of its transports; ``aclose()`` then unregisters those
transports' file descriptors from the event loop, and a descriptor number that a newer connection
reuses in the meantime loses its reader: that request would wait for ever.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from typing import Any

from afnio import _runtime

__all__ = ["Resources", "release_dropped"]


class Resources:
    """What a client must release: the SDK client and, for sync clients, the worker threads.

    Kept apart from the client object so that a ``weakref.finalize`` on the client can release
    them after the client itself is gone.
    """

    __slots__ = ("closed", "executor", "is_async", "sdk")

    def __init__(self, sdk: Any, is_async: bool) -> None:
        self.sdk = sdk
        self.is_async = is_async
        self.executor: concurrent.futures.ThreadPoolExecutor | None = None
        self.closed = False

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
