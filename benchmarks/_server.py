"""The benchmark's model server, in a process of its own, in one of two flavours.

``"local"`` is ``afnio.testing.LocalServer`` (the project's test server); ``"plain"`` is a plain
threaded HTTP server that does nothing but answer (:mod:`benchmarks._plain_server`), so that a
figure measured against both does not depend on one server implementation.

The server runs out of process so that its request handling does not share the client's
interpreter lock: what a benchmark measures is then the client library, as it would be against a
real endpoint. The parent reads the request log through a pipe. ``time.monotonic`` is the same
clock in every process on Linux, so server timestamps can be compared with the client's.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.connection
from dataclasses import dataclass
from typing import Any

__all__ = ["FLAVOURS", "Request", "ServerProcess"]

FLAVOURS = ("local", "plain")
"""The server implementations a benchmark can run against (see the module docstring)."""


@dataclass(frozen=True)
class Request:
    """One chat completion as the server saw it."""

    start: float
    end: float
    status: int | None
    prompt_tokens: int
    completion_tokens: int
    body: dict[str, Any]

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


def _plain(record: Any) -> dict[str, Any]:
    if hasattr(record, "prompt_tokens"):  # the plain server counts tokens itself
        tokens = (record.prompt_tokens, record.completion_tokens)
    else:
        usage = (record.response or {}).get("usage") or {}
        tokens = (usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0))
    return {
        "start": record.start,
        "end": record.end if record.end is not None else record.start,
        "status": record.status,
        "prompt_tokens": int(tokens[0]),
        "completion_tokens": int(tokens[1]),
        "body": record.body if isinstance(record.body, dict) else {},
    }


def _serve(conn: multiprocessing.connection.Connection, latency: float, flavour: str) -> None:
    """Child process: runs the server and answers ``log`` / ``clear`` / ``stop`` commands."""
    server: Any
    if flavour == "plain":
        from benchmarks._plain_server import PlainServer

        server = PlainServer(latency).start()
    else:
        from afnio.testing import LocalServer
        from benchmarks.workload import reply

        server = LocalServer(reply, latency=latency).start()
    conn.send(server.base_url)
    try:
        while True:
            command = conn.recv()
            if command == "log":
                records = [r for r in server.requests if r.path.endswith("/chat/completions")]
                conn.send(([_plain(r) for r in records], server.max_in_flight))
            elif command == "clear":
                server.clear_log()
                conn.send(None)
            else:
                break
    finally:
        server.stop()
        conn.close()


class ServerProcess:
    """Starts the workload's scripted server in a child process (a context manager).

    Args:
        latency: Seconds the server waits before answering each chat completion.
        flavour: ``"local"`` (``afnio.testing.LocalServer``) or ``"plain"`` (a plain threaded
            HTTP server); see :data:`FLAVOURS`.

    Example:
        >>> with ServerProcess(latency=0.0) as server:  # doctest: +SKIP
        ...     server.base_url
        'http://127.0.0.1:PORT/v1'
    """

    api_key = "sk-local-test"

    def __init__(self, latency: float, flavour: str = "local") -> None:
        if flavour not in FLAVOURS:
            raise ValueError(f"`flavour` must be one of {FLAVOURS}, but got {flavour!r}.")
        self.latency = latency
        self.flavour = flavour
        self.base_url = ""
        self._conn: multiprocessing.connection.Connection | None = None
        self._process: Any = None

    def __enter__(self) -> ServerProcess:
        context = multiprocessing.get_context("spawn")
        parent, child = context.Pipe()
        self._process = context.Process(
            target=_serve,
            args=(child, self.latency, self.flavour),
            name=f"bench-server-{self.flavour}",
            daemon=True,
        )
        self._process.start()
        child.close()
        if not parent.poll(60):
            self._process.kill()
            raise RuntimeError("The benchmark server did not start within 60 s.")
        self.base_url = parent.recv()
        self._conn = parent
        return self

    def __exit__(self, *exc: object) -> None:
        if self._conn is not None:
            try:
                self._conn.send("stop")
            except (BrokenPipeError, OSError):
                pass
            self._conn.close()
            self._conn = None
        if self._process is not None:
            self._process.join(10)
            if self._process.is_alive():
                self._process.kill()
                self._process.join()
            self._process = None

    def _ask(self, command: str) -> Any:
        if self._conn is None:
            raise RuntimeError("The benchmark server is not running.")
        self._conn.send(command)
        return self._conn.recv()

    def requests(self) -> list[Request]:
        """Every chat completion received since the last :meth:`clear`, in arrival order."""
        records, _ = self._ask("log")
        return [Request(**r) for r in records]

    def max_in_flight(self) -> int:
        """The most chat completions handled at once since the last :meth:`clear`."""
        _, peak = self._ask("log")
        return int(peak)

    def clear(self) -> None:
        """Empties the request log."""
        self._ask("clear")
