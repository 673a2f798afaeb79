"""A local OpenAI-compatible HTTP server for tests and offline demos.

:class:`LocalServer` speaks the chat-completions and models endpoints of the OpenAI API over real
HTTP on 127.0.0.1, so the real ``openai`` SDK (sync or async) can talk to it. Replies come from a
deterministic script (:class:`~afnio.testing.script.ScriptedModel`); latency and faults (429, 500,
timeouts, a server that never answers, malformed or truncated JSON, HTML pages) can be injected;
API keys and model names can be checked as a real server does; every request is logged.

Example:
    >>> import openai
    >>> from afnio.testing import LocalServer, ScriptedModel
    >>> model = ScriptedModel()
    >>> _ = model.when(user="ping").reply("pong")
    >>> with LocalServer(model) as server:
    ...     client = openai.OpenAI(base_url=server.base_url, api_key=server.api_key)
    ...     completion = client.chat.completions.create(
    ...         model="gpt-4o", messages=[{"role": "user", "content": "ping"}])
    >>> completion.choices[0].message.content
    'pong'
    >>> server.requests[0].status
    200

Run ``python -m afnio.testing.server --help`` for the command line (see
:mod:`afnio.testing.__main__`).
"""

from __future__ import annotations

import hashlib
import logging
import random
import socket
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, TypeAlias

from afnio.testing._http import LocalHTTPServer
from afnio.testing.faults import Faults, check_fault_kind
from afnio.testing.script import ChatRequest, ReplyLike, ScriptedModel

__all__ = ["DEFAULT_MODELS", "LocalServer", "RequestRecord", "Script"]

logger = logging.getLogger("afnio.testing")

Script: TypeAlias = ScriptedModel | Callable[[ChatRequest], ReplyLike | None]
"""What answers requests: a :class:`ScriptedModel`, or a callable (``None`` = built-in default)."""

Latency: TypeAlias = float | tuple[float, float]

DEFAULT_MODELS = ("gpt-4o", "gpt-4o-mini", "gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano", "o4-mini")
"""The models listed by ``GET /v1/models``; any model name is accepted by chat completions."""


@dataclass
class RequestRecord:
    """One request received by a :class:`LocalServer`, as it was handled.

    Records are appended when a request arrives and completed before its response is sent, so
    once a client has its answer, the record says what was sent.

    Attributes:
        index: Position in the log (0-based, in arrival order).
        method: HTTP method.
        path: URL path, without the query string.
        headers: Request headers (lower-case names).
        body: Parsed JSON body, or ``None`` (no body, or not JSON).
        messages: The chat messages (empty for other endpoints).
        model: The requested model, if any.
        response_format: The ``response_format`` argument, if any.
        attempt: How many times this exact body had been seen before (chat completions only).
        start: :func:`time.monotonic` when the request was read.
        end: :func:`time.monotonic` when it was answered or dropped; ``None`` while in flight.
        status: HTTP status sent; ``None`` while in flight or when no response was sent (the
            ``"timeout"`` and ``"disconnect"`` faults).
        content: The assistant message content sent (after any fault corrupted it).
        response: The JSON body sent, if any.
        fault: The injected fault, if any.
        latency: The delay applied before answering, in seconds.
        error: The traceback of an exception raised by the script, if any.
    """

    index: int
    method: str
    path: str
    headers: dict[str, str]
    body: Any = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    model: str | None = None
    response_format: dict[str, Any] | None = None
    attempt: int = 0
    start: float = 0.0
    end: float | None = None
    status: int | None = None
    content: str | None = None
    response: dict[str, Any] | None = None
    fault: str | None = None
    latency: float = 0.0
    error: str | None = None

    @property
    def duration(self) -> float | None:
        """Seconds between ``start`` and ``end`` (``None`` while in flight)."""
        return None if self.end is None else self.end - self.start


class LocalServer:
    """A local OpenAI-compatible server answering from a deterministic script.

    Serves ``POST /v1/chat/completions`` (non-streaming, one choice), ``GET /v1/models`` and
    ``GET /v1/models/{id}`` on a background thread, one thread per connection, so many requests
    can be in flight at once. Any API key is accepted.

    Args:
        script: A :class:`ScriptedModel`, or a callable ``request -> str | dict | list | Reply |
            None`` (``None`` falls back to the built-in default). ``None`` makes an empty
            :class:`ScriptedModel`.
        latency: Seconds to wait before answering each chat completion: a number, or a
            ``(low, high)`` range from which a delay is drawn by an RNG seeded with the request
            body (so the same request always waits the same time). A :class:`Reply` or rule can
            override it.
        faults: Random, reproducible fault injection; ``None`` for none.
        host: Interface to bind.
        port: Port to bind; 0 picks a free one.
        models: Model ids listed by ``GET /v1/models``.
        check_api_key: If true, every request must carry ``Authorization: Bearer`` with
            :attr:`api_key`; others get OpenAI's 401 ``invalid_api_key`` error. By default any
            key is accepted.
        known_models_only: If true, chat completions for a model not in ``models`` get
            OpenAI's 404 ``model_not_found`` error (as from a server that does not serve that
            model). By default any model name is answered.

    Attributes:
        api_key: A dummy key to give clients (any key is accepted unless ``check_api_key``).
        latency: As given; may be changed while running.
        faults: As given; may be changed while running.

    Example:
        >>> server = LocalServer(latency=(0.0, 0.01)).start()
        >>> server.base_url.startswith("http://127.0.0.1:")
        True
        >>> server.stop()
    """

    api_key: str = "sk-local-test"

    def __init__(
        self,
        script: Script | None = None,
        *,
        latency: Latency = 0.0,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        models: Sequence[str] = DEFAULT_MODELS,
        check_api_key: bool = False,
        known_models_only: bool = False,
    ) -> None:
        self.script = script
        self.check_api_key = check_api_key
        self.known_models_only = known_models_only
        self.latency = latency
        self.faults = faults
        self.host = host
        self.models = tuple(models)
        self._requested_port = port
        self._port: int | None = None
        self._httpd: LocalHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._log: list[RequestRecord] = []
        self._attempts: dict[str, int] = {}
        self._injections: deque[list[Any]] = deque()
        self._connections: set[socket.socket] = set()
        self._in_flight = 0
        self._max_in_flight = 0

    # -- configuration -------------------------------------------------------------------------

    @property
    def script(self) -> ScriptedModel:
        """The :class:`ScriptedModel` answering requests; add rules with ``script.when(...)``.

        A plain callable given as script becomes the default of a new :class:`ScriptedModel`.
        """
        return self._script

    @script.setter
    def script(self, script: Script | None) -> None:
        if script is None:
            self._script = ScriptedModel()
        elif isinstance(script, ScriptedModel):
            self._script = script
        elif callable(script):
            self._script = ScriptedModel(default=script)
        else:
            raise TypeError(
                f"script must be a ScriptedModel or a callable taking a ChatRequest, got {script!r}"
            )

    @property
    def latency(self) -> Latency:
        """The latency setting (see the class docstring)."""
        return self._latency

    @latency.setter
    def latency(self, latency: Latency) -> None:
        if isinstance(latency, tuple):
            low, high = latency
            if not 0 <= low <= high:
                raise ValueError(f"latency range must satisfy 0 <= low <= high, got {latency!r}")
            self._latency: Latency = (float(low), float(high))
        elif not latency >= 0:
            raise ValueError(f"latency must be a non-negative number of seconds, got {latency!r}")
        else:
            self._latency = float(latency)

    # -- lifecycle -----------------------------------------------------------------------------

    def start(self) -> LocalServer:
        """Bind the port and serve on a background thread.

        Returns:
            This server.

        Raises:
            RuntimeError: If it is already running.
            OSError: If the address cannot be bound.
        """
        if self._httpd is not None:
            raise RuntimeError(f"LocalServer is already running at {self.base_url}")
        self._stopping = threading.Event()
        httpd = LocalHTTPServer((self.host, self._requested_port), self)
        self._httpd = httpd
        self._port = int(httpd.server_address[1])
        self._thread = threading.Thread(
            target=httpd.serve_until,
            args=(self._stopping,),
            name=f"afnio-testing-server-{self._port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and close every connection, promptly, even with requests being held.

        Requests still in progress are dropped without an answer. Safe to call twice.
        """
        httpd, thread = self._httpd, self._thread
        if httpd is None:
            return
        self._httpd = None
        self._thread = None
        self._stopping.set()
        httpd.wake()
        if thread is not None:
            thread.join(timeout=5.0)
        with self._lock:
            connections = list(self._connections)
        for connection in connections:  # wakes handlers reading an idle kept-alive connection
            try:
                connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        httpd.server_close()

    @property
    def running(self) -> bool:
        """Whether the server is serving."""
        return self._httpd is not None

    def __enter__(self) -> LocalServer:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def port(self) -> int:
        """The bound port.

        Raises:
            RuntimeError: If the server was never started.
        """
        if self._port is None:
            raise RuntimeError(
                "LocalServer has no port yet; call start() or use it as a context manager"
            )
        return self._port

    @property
    def base_url(self) -> str:
        """The URL to give an OpenAI client, e.g. ``http://127.0.0.1:PORT/v1``."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/v1"

    def __repr__(self) -> str:
        where = self.base_url if self._port is not None else "not started"
        state = "running" if self.running else "stopped"
        return f"LocalServer({where}, {state}, requests={len(self._log)})"

    # -- request log ---------------------------------------------------------------------------

    @property
    def requests(self) -> list[RequestRecord]:
        """A snapshot of the request log, in arrival order."""
        with self._lock:
            return list(self._log)

    @property
    def in_flight(self) -> int:
        """How many requests are being handled right now."""
        with self._lock:
            return self._in_flight

    @property
    def max_in_flight(self) -> int:
        """The most requests handled at the same time since start or :meth:`clear_log`."""
        with self._lock:
            return self._max_in_flight

    def clear_log(self) -> None:
        """Empty the request log and reset :attr:`max_in_flight` to :attr:`in_flight`."""
        with self._lock:
            self._log.clear()
            self._max_in_flight = self._in_flight

    def reset(self) -> None:
        """:meth:`clear_log`, forget how often each body was seen, and drop pending injections."""
        with self._lock:
            self._attempts.clear()
            self._injections.clear()
        self.clear_log()

    # -- faults --------------------------------------------------------------------------------

    def inject(self, kind: str, times: int = 1) -> None:
        """Make the next ``times`` chat completions fail with ``kind``, before any random fault.

        ``"malformed_json"`` and ``"truncated_json"`` apply even when no JSON was requested.

        Args:
            kind: One of :data:`FAULT_KINDS`.
            times: How many requests to fail.

        Raises:
            ValueError: For an unknown kind or ``times < 1``.

        Example:
            >>> server = LocalServer()
            >>> server.inject("429", times=2)
        """
        check_fault_kind(kind)
        if times < 1:
            raise ValueError(f"times must be at least 1, got {times!r}")
        with self._lock:
            self._injections.append([kind, times])

    # -- internals used by the handler ---------------------------------------------------------

    def _begin(self, method: str, path: str, headers: dict[str, str]) -> RequestRecord:
        with self._lock:
            record = RequestRecord(
                index=len(self._log),
                method=method,
                path=path,
                headers=headers,
                start=time.monotonic(),
            )
            self._log.append(record)
            self._in_flight += 1
            self._max_in_flight = max(self._max_in_flight, self._in_flight)
        return record

    def _end(self, record: RequestRecord) -> None:
        with self._lock:
            record.end = time.monotonic()
            self._in_flight -= 1

    def _next_attempt(self, key: str) -> int:
        with self._lock:
            attempt = self._attempts.get(key, 0)
            self._attempts[key] = attempt + 1
        return attempt

    def _take_injection(self) -> str | None:
        with self._lock:
            if not self._injections:
                return None
            pending = self._injections[0]
            pending[1] -= 1
            if pending[1] <= 0:
                self._injections.popleft()
            return str(pending[0])

    def _delay_for(self, key: str) -> float:
        latency = self._latency
        if not isinstance(latency, tuple):
            return latency
        low, high = latency
        seed = int.from_bytes(hashlib.sha256(f"latency\x00{key}".encode()).digest()[:8], "big")
        return random.Random(seed).uniform(low, high)

    def _track(self, connection: socket.socket, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(connection)
            else:
                self._connections.discard(connection)


if __name__ == "__main__":
    import sys

    from afnio.testing.__main__ import main

    sys.exit(main())
