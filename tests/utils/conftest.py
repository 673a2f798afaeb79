"""A tiny file server on 127.0.0.1 for the download tests: nothing here reaches the internet."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


@dataclass
class Route:
    body: bytes = b""
    status: int = 200
    truncate: bool = False  # announce the full length, send half, then close the connection
    location: str | None = None  # answer with a 302 redirect to this path


@dataclass
class FileServer:
    url: str
    routes: dict[str, Route] = field(default_factory=dict)
    requests: list[tuple[str, dict[str, str]]] = field(default_factory=list)

    def serve(
        self,
        path: str,
        body: bytes = b"",
        *,
        status: int = 200,
        truncate: bool = False,
        location: str | None = None,
    ) -> str:
        """Serves ``body`` at ``path``; returns its URL."""
        self.routes[path] = Route(body, status, truncate, location)
        return self.url + path


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        state = self.server.state
        state.requests.append((self.path, dict(self.headers.items())))
        route = state.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        if route.location is not None:
            self.send_response(302)
            self.send_header("Location", route.location)
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        if route.status != 200:
            self.send_error(route.status)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(route.body)))
        self.end_headers()
        if route.truncate:
            self.wfile.write(route.body[: len(route.body) // 2])
            self.wfile.flush()
            self.close_connection = True
            return
        self.wfile.write(route.body)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: FileServer


@pytest.fixture
def no_proxy(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("http_proxy", "https_proxy", "all_proxy"):
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
def file_server(no_proxy: None) -> Iterator[FileServer]:
    server = _Server(("127.0.0.1", 0), _Handler)
    server.state = FileServer(url=f"http://127.0.0.1:{server.server_address[1]}")
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield server.state
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


@pytest.fixture
def refused_url(no_proxy: None) -> str:
    """A base URL on a local port where nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"
