"""The HTTP side of :class:`~afnio.testing.LocalServer`: request validation, the selector-driven
server, and the handler that answers from the script, with latency and faults."""

from __future__ import annotations

import hashlib
import http.server
import json
import logging
import selectors
import socket
import socketserver
import sys
import threading
import time
import traceback
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, cast
from urllib.parse import unquote, urlsplit

from afnio.testing.embeddings import EmbeddingRequestError, embeddings_response
from afnio.testing.faults import Faults
from afnio.testing.script import ChatRequest, Reply, estimate_tokens

if TYPE_CHECKING:
    from afnio.testing.server import LocalServer, RequestRecord

logger = logging.getLogger("afnio.testing")

_MALFORMED_CONTENT = "Sure! Here is the answer you asked for, written out in plain words."
# What a reverse proxy or a wrong route answers with status 200: a page meant for a browser.
_HTML_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Sign in</title></head>\n"
    "<body><h1>Sign in to continue</h1><p>This page was served by the local test server's "
    '"html" fault.</p></body></html>\n'
)
_MAX_BODY_BYTES = 64 * 1024 * 1024
_POLL_SECONDS = 0.05


class _BadRequest(Exception):
    def __init__(self, message: str, param: str | None = None, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.param = param
        self.code = code


def _error_body(
    message: str, error_type: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type, "param": param, "code": code}}


def _error_type(status: int) -> str:
    if status == 429:
        return "requests"
    if status >= 500:
        return "server_error"
    return "invalid_request_error"


def _canonical(body: object) -> str:
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def _validate_chat(body: object) -> dict[str, Any]:
    """The body as a dict, or :class:`_BadRequest` naming the first problem."""
    if not isinstance(body, dict):
        raise _BadRequest("The request body must be a JSON object.")
    model = body.get("model")
    if not isinstance(model, str) or not model:
        raise _BadRequest(
            "You must provide a model parameter.", "model", "missing_required_parameter"
        )
    messages = body.get("messages")
    if not isinstance(messages, list) or not messages:
        raise _BadRequest(
            "Missing required parameter: 'messages' (a non-empty array).",
            "messages",
            "missing_required_parameter",
        )
    for index, message in enumerate(messages):
        if not isinstance(message, dict) or not isinstance(message.get("role"), str):
            raise _BadRequest(
                f"Invalid value for 'messages[{index}]': expected an object with a 'role'.",
                f"messages[{index}]",
                "invalid_value",
            )
        content = message.get("content")
        if content is not None and not isinstance(content, (str, list)):
            raise _BadRequest(
                f"Invalid type for 'messages[{index}].content': expected a string or an array "
                f"of content parts, got {type(content).__name__}.",
                f"messages[{index}].content",
                "invalid_type",
            )
    if body.get("stream"):
        raise _BadRequest(
            "Streaming is not supported by the local test server; call without stream=True.",
            "stream",
            "unsupported_value",
        )
    n = body.get("n", 1)
    if n is not None and (not isinstance(n, int) or isinstance(n, bool) or n < 1):
        raise _BadRequest(f"Invalid value for 'n': expected an integer >= 1, got {n!r}.", "n")
    if isinstance(n, int) and n > 1:
        raise _BadRequest(
            f"The local test server answers with one choice only (n=1), got n={n}.",
            "n",
            "unsupported_value",
        )
    response_format = body.get("response_format")
    if response_format is not None:
        kind = response_format.get("type") if isinstance(response_format, dict) else None
        if kind not in ("text", "json_object", "json_schema"):
            raise _BadRequest(
                "Invalid value for 'response_format.type': expected 'text', 'json_object' or "
                f"'json_schema', got {kind!r}.",
                "response_format.type",
                "invalid_value",
            )
        assert isinstance(response_format, dict)
        json_schema = response_format.get("json_schema")
        if kind == "json_schema" and (
            not isinstance(json_schema, dict) or not isinstance(json_schema.get("name"), str)
        ):
            raise _BadRequest(
                "Missing required parameter: 'response_format.json_schema.name'.",
                "response_format.json_schema.name",
                "missing_required_parameter",
            )
    return body


def _truncate_json(text: str) -> str:
    """``text`` cut in half, shortened further if the half still parses as JSON."""
    cut = text[: len(text) // 2]
    while cut:
        try:
            json.loads(cut)
        except ValueError:
            return cut
        cut = cut[:-1]
    return cut


class LocalHTTPServer(http.server.ThreadingHTTPServer):
    daemon_threads = True  # a handler stuck in a script never blocks stop() or exit
    block_on_close = False
    request_queue_size = 512  # bursts of concurrent connects must not overflow the backlog

    def __init__(self, address: tuple[str, int], owner: LocalServer) -> None:
        self.owner = owner
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        super().__init__(address, _Handler)
        self.socket.setblocking(False)
        self._wake_reader, self._wake_writer = socket.socketpair()

    def serve_until(self, stopping: threading.Event) -> None:
        """Accept connections until ``stopping`` is set and :meth:`wake` is called.

        Unlike ``serve_forever``, which polls for shutdown, this returns as soon as it is woken.
        """
        with selectors.DefaultSelector() as selector:
            selector.register(self.socket, selectors.EVENT_READ)
            selector.register(self._wake_reader, selectors.EVENT_READ)
            while not stopping.is_set():
                for key, _ in selector.select():
                    if key.fileobj is self.socket and not stopping.is_set():
                        self._accept()

    def _accept(self) -> None:
        try:
            request, client_address = self.get_request()
        except OSError:  # includes BlockingIOError: another wake-up took the connection
            return
        request.setblocking(True)
        try:
            self.process_request(request, client_address)
        except Exception:
            self.handle_error(request, client_address)
            self.shutdown_request(request)

    def wake(self) -> None:
        try:
            self._wake_writer.send(b"\0")
        except OSError:
            pass

    def server_close(self) -> None:
        super().server_close()
        self._wake_reader.close()
        self._wake_writer.close()

    def server_bind(self) -> None:
        # HTTPServer.server_bind resolves the host's FQDN, which can stall without a network.
        socketserver.TCPServer.server_bind(self)
        self.server_name = str(self.server_address[0])
        self.server_port = int(self.server_address[1])

    def handle_error(self, request: Any, client_address: Any) -> None:
        error = sys.exc_info()[1]
        if isinstance(error, (ConnectionError, TimeoutError)) or self.owner._stopping.is_set():
            return
        logger.exception("afnio.testing: unexpected error serving %s", client_address)


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "afnio-testing"
    sys_version = ""
    disable_nagle_algorithm = True  # headers and body go out in two writes; don't delay the second
    _finished = False

    @property
    def owner(self) -> LocalServer:
        return cast(LocalHTTPServer, self.server).owner

    def setup(self) -> None:
        super().setup()
        self.owner._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.owner._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s - %s", self.address_string(), format % args)

    def do_GET(self) -> None:
        self._dispatch("GET")

    def do_POST(self) -> None:
        self._dispatch("POST")

    def do_PUT(self) -> None:
        self._dispatch("PUT")

    def do_PATCH(self) -> None:
        self._dispatch("PATCH")

    def do_DELETE(self) -> None:
        self._dispatch("DELETE")

    # -- plumbing ------------------------------------------------------------------------------

    def _dispatch(self, method: str) -> None:
        path = urlsplit(self.path).path
        headers = {name.lower(): value for name, value in self.headers.items()}
        record = self.owner._begin(method, path, headers)
        self._finished = False
        try:
            try:
                raw = self._read_body()
            except _BadRequest as error:
                self.close_connection = True
                self._send_error(record, 400, error.message, error.param, error.code)
                return
            if self.owner.check_api_key and not self._authorized(headers):
                self._send_unauthorized(record, headers)
            elif method == "POST" and path == "/v1/chat/completions":
                self._chat(record, raw)
            elif method == "POST" and path == "/v1/embeddings":
                self._embeddings(record, raw)
            elif method == "GET" and path == "/v1/models":
                data = [self._model_object(model) for model in self.owner.models]
                self._send(record, 200, {"object": "list", "data": data})
            elif method == "GET" and path.startswith("/v1/models/"):
                model = unquote(path[len("/v1/models/") :])
                if model in self.owner.models:
                    self._send(record, 200, self._model_object(model))
                else:
                    message = f"The model '{model}' does not exist or you do not have access to it."
                    self._send_error(record, 404, message, "model", "model_not_found")
            else:
                self._send_error(record, 404, f"Invalid URL ({method} {path})")
        except Exception as error:
            if self._finished:  # the response is out; nothing more to tell the client
                raise
            record.error = traceback.format_exc()
            logger.error("afnio.testing: failed to answer request %d", record.index, exc_info=True)
            self.close_connection = True
            self._send_error(record, 500, f"The local test server failed: {error!r}")
        finally:
            if not self._finished:
                self._finish(record)

    def _authorized(self, headers: dict[str, str]) -> bool:
        return headers.get("authorization", "") == f"Bearer {self.owner.api_key}"

    def _send_unauthorized(self, record: RequestRecord, headers: dict[str, str]) -> None:
        given = headers.get("authorization", "")
        if not given.startswith("Bearer ") or not given[len("Bearer ") :].strip():
            message = (
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY)."
            )
        else:
            key = given[len("Bearer ") :].strip()
            masked = f"{key[:3]}***{key[-2:]}" if len(key) > 8 else "***"
            message = f"Incorrect API key provided: {masked}."
        self._send_error(record, 401, message, None, "invalid_api_key")

    def _finish(self, record: RequestRecord) -> None:
        self._finished = True
        self.owner._end(record)

    def _read_body(self) -> bytes:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked()
        length = self.headers.get("Content-Length")
        if length is None:
            return b""
        try:
            size = int(length)
        except ValueError:
            raise _BadRequest(f"Invalid Content-Length header: {length!r}.") from None
        if size < 0 or size > _MAX_BODY_BYTES:
            raise _BadRequest(f"Request body size {size} is out of range.")
        return self.rfile.read(size)

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(65537)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequest("Malformed chunked request body.") from None
            if size == 0:
                while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                    pass
                return b"".join(chunks)
            total += size
            if total > _MAX_BODY_BYTES:
                raise _BadRequest("Request body is too large.")
            chunks.append(self.rfile.read(size))
            self.rfile.readline(65537)

    def _model_object(self, model: str) -> dict[str, Any]:
        return {"id": model, "object": "model", "created": 0, "owned_by": "afnio-testing"}

    def _send(
        self,
        record: RequestRecord,
        status: int,
        payload: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        record.status = status
        record.response = payload
        self._finish(record)  # the log is complete before the client can read the answer
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        extra = [("x-request-id", f"req_{record.index:08d}"), *(headers or {}).items()]
        self._write_reply(status, "application/json", data, extra)

    def _send_raw(self, record: RequestRecord, status: int, content_type: str, data: bytes) -> None:
        """Answer with ``data`` as it is (a body that is not an OpenAI JSON document)."""
        record.status = status
        self._finish(record)
        self._write_reply(status, content_type, data)

    def _write_reply(
        self,
        status: int,
        content_type: str,
        data: bytes,
        headers: Iterable[tuple[str, str]] = (),
    ) -> None:
        """Writes the status line, the headers and ``data``; a client gone closes the connection."""
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            for name, value in headers:
                self.send_header(name, value)
            if self.close_connection:
                self.send_header("Connection", "close")
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
        except OSError:
            self.close_connection = True

    def _send_error(
        self,
        record: RequestRecord,
        status: int,
        message: str,
        param: str | None = None,
        code: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        self._send(record, status, _error_body(message, _error_type(status), param, code), headers)

    def _drop(self, record: RequestRecord) -> None:
        """Close the connection without answering."""
        self._finish(record)
        self.close_connection = True

    def _wait(self, seconds: float) -> bool:
        """Sleep, waking early if the server stops; whether it is still running."""
        if seconds > 0:
            return not self.owner._stopping.wait(seconds)
        return not self.owner._stopping.is_set()

    def _hold(self, seconds: float) -> None:
        """Keep the connection open without answering until ``seconds`` pass, the client hangs
        up or the server stops."""
        deadline = time.monotonic() + seconds
        connection = self.connection
        previous = connection.gettimeout()
        try:
            while not self.owner._stopping.is_set():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return
                connection.settimeout(min(_POLL_SECONDS, remaining))
                try:
                    peeked = connection.recv(1, socket.MSG_PEEK)
                except TimeoutError:
                    continue
                except OSError:
                    return
                if not peeked:
                    return  # the client closed the connection
                self.owner._stopping.wait(min(_POLL_SECONDS, remaining))
        finally:
            try:
                connection.settimeout(previous)
            except OSError:
                pass

    # -- chat completions ----------------------------------------------------------------------

    def _chat(self, record: RequestRecord, raw: bytes) -> None:
        owner = self.owner
        try:
            parsed = json.loads(raw.decode("utf-8")) if raw else None
        except (UnicodeDecodeError, ValueError):
            self._send_error(
                record,
                400,
                "We could not parse the JSON body of your request. The local test server "
                "expects a JSON object.",
            )
            return
        record.body = parsed
        try:
            body = _validate_chat(parsed)
        except _BadRequest as error:
            self._send_error(record, 400, error.message, error.param, error.code)
            return
        if owner.known_models_only and body["model"] not in owner.models:
            message = f"The model `{body['model']}` does not exist or you do not have access to it."
            self._send_error(record, 404, message, None, "model_not_found")
            return
        key = hashlib.sha256(_canonical(body).encode("utf-8")).hexdigest()
        attempt = owner._next_attempt(key)
        request = ChatRequest(body, attempt=attempt)
        record.messages = request.messages
        record.model = request.model
        record.response_format = request.response_format
        record.attempt = attempt

        fault = self._fault_for(key, attempt, wants_json=request.wants_json)
        record.fault = fault
        delay = owner._delay_for(key)
        if self._answered_by_fault(record, fault, delay):
            return

        try:
            reply = owner.script(request)
        except Exception as error:
            record.error = traceback.format_exc()
            logger.error(
                "afnio.testing: the script raised while answering request %d",
                record.index,
                exc_info=True,
            )
            message = f"The scripted reply raised {type(error).__name__}: {error}"
            self._send_error(record, 500, message)
            return
        if reply.latency is not None:
            delay = reply.latency
        record.latency = delay
        if not self._wait(delay):
            self._drop(record)
            return
        headers = dict(reply.headers or {})
        if reply.is_error:
            status = reply.status or 500
            self._send_error(record, status, reply.text, headers=headers)
            return

        content = reply.text
        finish_reason = reply.finish_reason
        if fault == "malformed_json":
            content = _MALFORMED_CONTENT
        elif fault == "truncated_json":
            content = _truncate_json(content)
            finish_reason = "length"
        record.content = content
        payload = self._completion(request, key, reply, content, finish_reason)
        self._send_answer(record, fault, reply.status or 200, payload, headers)

    def _embeddings(self, record: RequestRecord, raw: bytes) -> None:
        owner = self.owner
        try:
            record.body = json.loads(raw.decode("utf-8")) if raw else None
            payload = embeddings_response(record.body)
        except (UnicodeDecodeError, ValueError) as error:
            param = error.param if isinstance(error, EmbeddingRequestError) else None
            self._send_error(record, 400, str(error), param)
            return
        model = payload["model"]
        record.model = model
        if owner.known_models_only and model not in owner.models:
            message = f"The model `{model}` does not exist or you do not have access to it."
            self._send_error(record, 404, message, None, "model_not_found")
            return
        key = hashlib.sha256(_canonical(record.body).encode("utf-8")).hexdigest()
        attempt = owner._next_attempt(key)
        record.attempt = attempt
        # Faults of the reply's JSON content apply to chat completions that asked for JSON only.
        fault = self._fault_for(key, attempt, wants_json=False)
        record.fault = fault
        delay = owner._delay_for(key)
        if self._answered_by_fault(record, fault, delay):
            return
        record.latency = delay
        if not self._wait(delay):
            self._drop(record)
            return
        self._send_answer(record, fault, 200, payload)

    # -- faults shared by every endpoint that answers a model request --------------------------

    def _fault_for(self, key: str, attempt: int, *, wants_json: bool) -> str | None:
        """The fault for this attempt: an injected one first, else the server's ``faults``."""
        owner = self.owner
        fault = owner._take_injection()
        faults = owner.faults
        if fault is None and faults is not None:
            fault = faults.choose(key, attempt, wants_json=wants_json)
        return fault

    def _answered_by_fault(self, record: RequestRecord, fault: str | None, delay: float) -> bool:
        """Plays the faults that replace the answer (no answer, a dropped connection, an error
        status); whether one did."""
        faults = self.owner.faults
        if fault in ("timeout", "hang"):
            if fault == "hang":
                self._hold(float("inf"))
            else:
                self._hold(faults.timeout_seconds if faults else Faults().timeout_seconds)
            self._drop(record)
            return True
        if fault == "disconnect":
            self._drop(record)
            return True
        if fault in ("429", "500", "503"):
            record.latency = delay
            if self._wait(delay):
                self._send_fault(record, fault, faults)
            else:
                self._drop(record)
            return True
        return False

    def _send_answer(
        self,
        record: RequestRecord,
        fault: str | None,
        status: int,
        payload: dict[str, Any],
        headers: dict[str, str] | None = None,
    ) -> None:
        """Sends the answer, or what a broken server sends in its place: an HTML page
        (``html``) or the JSON cut in half (``truncated_body``), both with status 200."""
        if fault == "html":
            self._send_raw(record, 200, "text/html; charset=utf-8", _HTML_PAGE.encode("utf-8"))
        elif fault == "truncated_body":
            data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
            self._send_raw(record, 200, "application/json", data[: len(data) // 2])
        else:
            self._send(record, status, payload, headers)

    def _send_fault(self, record: RequestRecord, fault: str, faults: Faults | None) -> None:
        if fault == "429":
            retry_after = faults.retry_after if faults else Faults().retry_after
            headers = {
                "Retry-After": f"{retry_after:g}",
                "retry-after-ms": f"{retry_after * 1000:g}",
            }
            message = "Rate limit reached (injected by the local test server). Please retry."
            self._send_error(record, 429, message, None, "rate_limit_exceeded", headers)
        elif fault == "503":
            message = "The engine is currently overloaded (injected by the local test server)."
            self._send_error(record, 503, message)
        else:
            message = "The server had an error while processing your request (injected)."
            self._send_error(record, 500, message)

    def _completion(
        self, request: ChatRequest, key: str, reply: Reply, content: str, finish_reason: str
    ) -> dict[str, Any]:
        usage = dict(reply.usage or {})
        prompt = usage.get("prompt_tokens", estimate_tokens(request.text))
        completion = usage.get("completion_tokens", estimate_tokens(content))
        suffix = hashlib.sha256(f"{key}\x00{request.attempt}".encode()).hexdigest()[:24]
        return {
            "id": f"chatcmpl-{suffix}",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": request.model,
            "choices": [
                {
                    "index": 0,
                    "message": {
                        "role": "assistant",
                        "content": content,
                        "refusal": None,
                        "annotations": [],
                    },
                    "logprobs": None,
                    "finish_reason": finish_reason,
                }
            ],
            "usage": {
                "prompt_tokens": prompt,
                "completion_tokens": completion,
                "total_tokens": usage.get("total_tokens", prompt + completion),
                "prompt_tokens_details": {
                    "cached_tokens": usage.get("cached_tokens", 0),
                    "audio_tokens": 0,
                },
                "completion_tokens_details": {
                    "reasoning_tokens": usage.get("reasoning_tokens", 0),
                    "audio_tokens": 0,
                    "accepted_prediction_tokens": 0,
                    "rejected_prediction_tokens": 0,
                },
            },
            "service_tier": "default",
            "system_fingerprint": "fp_afnio_local",
        }
