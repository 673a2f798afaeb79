"""A second model server for the benchmarks: a plain threaded HTTP server, nothing else.

``afnio.testing.LocalServer`` is a test tool: it matches scripts, injects faults, validates
JSON schemas and keeps a detailed log, all of which costs server CPU per request. The server here
does only what an OpenAI-compatible endpoint must: one thread per connection
(``http.server.ThreadingHTTPServer``), HTTP/1.1 keep-alive, ``TCP_NODELAY`` on every accepted
socket and a large listen backlog, the workload's scripted reply (:func:`benchmarks.workload.reply`)
after a fixed latency, and a log of what the benchmarks read (times, status, token counts, body).
Token counts use the same estimate as ``LocalServer`` (``ceil(characters / 4)``), so both
flavours report the same tokens for the same requests.

It runs in a process of its own (see :mod:`benchmarks._server`), so that the figures measured
against it and against ``LocalServer`` show what depends on the server implementation.
"""

from __future__ import annotations

import http.server
import json
import socket
import threading
import time
from typing import Any

__all__ = ["PlainRecord", "PlainServer"]


class PlainRecord:
    """One chat completion as the plain server handled it (the fields the benchmarks read)."""

    __slots__ = ("body", "completion_tokens", "end", "path", "prompt_tokens", "start", "status")

    def __init__(self, path: str, start: float, body: Any) -> None:
        self.path = path
        self.start = start
        self.end: float | None = None
        self.status: int | None = None
        self.body = body
        self.prompt_tokens = 0
        self.completion_tokens = 0


class _Server(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 1024  # a burst of concurrent connects must not overflow the backlog

    def __init__(self, latency: float) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.latency = latency
        self.log: list[PlainRecord] = []
        self.lock = threading.Lock()
        self.in_flight = 0
        self.max_in_flight = 0

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass  # no line per request on stderr

    def _send(self, status: int, payload: dict[str, Any]) -> None:
        data = json.dumps(payload).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self) -> None:
        self._send(200, {"object": "list", "data": [{"id": "gpt-4o-mini", "object": "model"}]})

    def do_POST(self) -> None:
        from afnio.testing import ChatRequest, estimate_tokens
        from benchmarks.workload import reply

        server = self.server
        start = time.monotonic()
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length)
        path = self.path.split("?", 1)[0]
        try:
            body = json.loads(raw)
        except ValueError:
            self._send(400, {"error": {"message": "The body is not JSON.", "type": "invalid"}})
            return
        if not path.endswith("/chat/completions") or not isinstance(body, dict):
            self._send(404, {"error": {"message": f"No route {path}.", "type": "not_found"}})
            return
        record = PlainRecord(path, start, body)
        with server.lock:
            server.log.append(record)
            server.in_flight += 1
            server.max_in_flight = max(server.max_in_flight, server.in_flight)
        try:
            request = ChatRequest(body)
            content = reply(request)
            if not isinstance(content, str):
                content = json.dumps(content)
            record.prompt_tokens = estimate_tokens(request.text)
            record.completion_tokens = estimate_tokens(content)
            wait = server.latency - (time.monotonic() - start)
            if wait > 0:
                time.sleep(wait)
            payload = {
                "id": f"chatcmpl-plain-{id(record):x}",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": request.model,
                "choices": [
                    {
                        "index": 0,
                        "message": {"role": "assistant", "content": content, "refusal": None},
                        "logprobs": None,
                        "finish_reason": "stop",
                    }
                ],
                "usage": {
                    "prompt_tokens": record.prompt_tokens,
                    "completion_tokens": record.completion_tokens,
                    "total_tokens": record.prompt_tokens + record.completion_tokens,
                },
            }
            record.status = 200
            record.end = time.monotonic()
            self._send(200, payload)
        finally:
            with server.lock:
                server.in_flight -= 1


class PlainServer:
    """The plain server, started in a background thread of the current process.

    Offers what :mod:`benchmarks._server` reads from a server: ``base_url``, ``requests``,
    ``max_in_flight``, ``clear_log()`` and ``stop()``.

    Args:
        latency: Seconds between reading a request and answering it.
    """

    api_key = "sk-local-test"

    def __init__(self, latency: float) -> None:
        self._server = _Server(latency)
        host, port = self._server.server_address[:2]
        self.base_url = f"http://{host}:{port}/v1"
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="plain-server", daemon=True
        )

    def start(self) -> PlainServer:
        self._thread.start()
        return self

    @property
    def requests(self) -> list[PlainRecord]:
        with self._server.lock:
            return list(self._server.log)

    @property
    def max_in_flight(self) -> int:
        return self._server.max_in_flight

    def clear_log(self) -> None:
        with self._server.lock:
            self._server.log.clear()
            self._server.max_in_flight = self._server.in_flight

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
