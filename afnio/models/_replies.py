"""What counts as a usable reply, and how a failed attempt is described to a person.

A server can answer HTTP 200 and still not answer: a proxy's HTML page, a JSON body cut short, a
structured reply whose JSON is cut off (``finish_reason="length"``), does not parse, or breaks the
requested schema. :func:`reply_text` turns each of those into a :class:`UnusableReply`, which the
client retries like a server error. :func:`describe_failure` says in one line what went wrong
with an attempt, whatever raised it.
"""

from __future__ import annotations

import array
import base64
import binascii
import contextvars
import errno
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from afnio.models._json_schema import schema_violation

__all__ = [
    "UnusableReply",
    "caller_parses_replies",
    "check_structured",
    "describe_failure",
    "embedding_vectors",
    "is_attempt_failure",
    "is_unusable_reply",
    "preview",
    "reply_text",
    "structured_replies_checked",
    "timeout_seconds",
    "usable",
    "wants_json",
]

_PREVIEW_CHARS = 80

_caller_parses: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "afnio_caller_parses_replies", default=False
)


@contextmanager
def caller_parses_replies() -> Iterator[None]:
    """Model calls made inside the block hand structured replies back unchecked.

    For callers that parse replies themselves and repair them by asking the model again with
    the problem explained (afnio's backward passes, evaluators and optimizers), which works
    better than sending the same request again. Elsewhere a reply that is not the JSON asked
    for is retried by the client.

    Example:
        >>> from afnio.models import caller_parses_replies
        >>> with caller_parses_replies():
        ...     pass
    """
    token = _caller_parses.set(True)
    try:
        yield
    finally:
        _caller_parses.reset(token)


def structured_replies_checked() -> bool:
    """Whether the client checks structured replies here (outside :func:`caller_parses_replies`)."""
    return not _caller_parses.get()


class UnusableReply(Exception):
    """An attempt answered with HTTP 200 but gave nothing usable; worth retrying."""

    def __init__(self, reason: str, *, text: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.text = text


def preview(text: str, limit: int = _PREVIEW_CHARS) -> str:
    """The start of ``text`` on one line, quoted, with ``...`` when it was cut.

    Example:
        >>> preview("<!DOCTYPE html>\\n<html>" + "x" * 100, limit=20)
        "'<!DOCTYPE html> <htm...'"
    """
    flat = " ".join(str(text).split())
    cut = flat[:limit]
    return repr(cut + "...") if len(flat) > limit else repr(cut)


def wants_json(completion_args: dict[str, Any]) -> dict[str, Any] | None:
    """The ``response_format`` of a request that asks for JSON, else ``None``."""
    response_format = completion_args.get("response_format")
    if isinstance(response_format, dict) and response_format.get("type") in (
        "json_object",
        "json_schema",
    ):
        return response_format
    return None


def reply_text(response: Any, completion_args: dict[str, Any]) -> str:
    """The text of a chat-completion ``response``, checked against what was asked.

    Raises:
        UnusableReply: When ``response`` is not a chat completion (the SDK hands back the body as a
            string when it is not JSON), or when JSON was asked for and the reply is cut off,
            does not parse, or breaks the ``json_schema``.
    """
    choices = getattr(response, "choices", None)
    if isinstance(response, (str, bytes)) or not isinstance(choices, list):
        raise _not_a("a chat completion", response)
    if not choices:
        return ""
    choice = choices[0]
    message = getattr(choice, "message", None)
    text = getattr(message, "content", None) or ""
    return check_structured(text, getattr(choice, "finish_reason", None), completion_args)


def _not_a(what: str, response: Any) -> UnusableReply:
    """The error for a 200 reply that is not ``what`` (the SDK hands back a body that is not
    JSON, e.g. a proxy's HTML page, as a string)."""
    body = response.decode("utf-8", "replace") if isinstance(response, bytes) else response
    shown = preview(body) if isinstance(body, str) else type(body).__name__
    return UnusableReply(f"the server answered HTTP 200 with something that is not {what}: {shown}")


def embedding_vectors(response: Any, count: int) -> list[list[float]]:
    """The vectors of an embeddings ``response``, in input order, as lists of floats (base64
    vectors, which a caller gets by asking ``encoding_format="base64"``, are decoded).

    Args:
        response: What the SDK's ``embeddings.create`` returned.
        count: How many texts were sent.

    Raises:
        UnusableReply: When ``response`` is not an embeddings list (an HTML page...), holds a
            vector that is neither numbers nor base64, or holds other than ``count`` vectors.

    Example:
        >>> from types import SimpleNamespace as Item
        >>> reply = Item(data=[Item(index=1, embedding=[0.5]), Item(index=0, embedding="AACAPw==")])
        >>> embedding_vectors(reply, 2)
        [[1.0], [0.5]]
    """
    data = getattr(response, "data", None)
    if isinstance(response, (str, bytes)) or not isinstance(data, list):
        raise _not_a("an embeddings list", response)
    items = sorted(data, key=lambda item: getattr(item, "index", 0))
    vectors = [_vector(getattr(item, "embedding", None)) for item in items]
    if len(vectors) != count:
        raise UnusableReply(f"the server returned {len(vectors)} embeddings for {count} texts")
    return vectors


def _vector(value: Any) -> list[float]:
    if isinstance(value, str):
        try:
            return array.array("f", base64.b64decode(value, validate=True)).tolist()
        except (binascii.Error, ValueError):
            pass
    elif isinstance(value, list) and all(
        isinstance(x, (int, float)) and not isinstance(x, bool) for x in value
    ):
        return [float(x) for x in value]
    raise UnusableReply(
        f"an embedding is neither a list of numbers nor base64: {preview(repr(value))}"
    )


def check_structured(text: str, finish_reason: str | None, completion_args: dict[str, Any]) -> str:
    """``text``, if it is what the request's ``response_format`` asked for.

    Raises:
        UnusableReply: When JSON was asked for and the reply is cut off, does not parse, or
            breaks the ``json_schema``.
    """
    response_format = wants_json(completion_args)
    if response_format is None or not structured_replies_checked():
        return text
    if finish_reason == "length":
        raise UnusableReply(
            "the JSON reply was cut off (finish_reason='length'): "
            f"{preview(text)}; raise `max_completion_tokens` if the answer needs more room",
            text=text,
        )
    try:
        value = json.loads(text)
    except ValueError:
        raise UnusableReply(f"the reply is not valid JSON: {preview(text)}", text=text) from None
    spec = response_format.get("json_schema")
    schema = spec.get("schema") if isinstance(spec, dict) else None
    if isinstance(schema, dict):
        problem = schema_violation(value, schema)
        if problem is not None:
            name = spec.get("name") if isinstance(spec, dict) else None
            raise UnusableReply(
                f"the reply breaks the JSON schema {name!r}: {problem}; reply: {preview(text)}",
                text=text,
            )
    return text


def describe_failure(error: BaseException, timeout: float | None) -> str:
    """One line saying what went wrong with an attempt that raised ``error``.

    ``timeout`` is the per-attempt timeout in seconds, shown when an attempt timed out.
    """
    import openai

    if isinstance(error, UnusableReply):
        return error.reason
    if isinstance(error, openai.APIConnectionError):  # timeouts included
        kind = type(error).__name__
        refused = _os_error(error)
        if refused is not None and refused.errno != errno.ETIMEDOUT:
            # Some HTTP stacks report a refused connection as a connect timeout.
            return f"cannot connect to the server: {os.strerror(refused.errno or 0)} ({kind})"
        if isinstance(error, openai.APITimeoutError):
            within = f" within the {timeout:g} s per-attempt timeout" if timeout else ""
            return f"the server did not answer{within} ({kind})"
        return f"cannot connect to the server: {_connection_problem(error)} ({kind})"
    if isinstance(error, openai.APIStatusError):
        server_says = _server_message(error)
        status = error.status_code
        if status == 401:
            hint = "the API key was refused: check `api_key` or OPENAI_API_KEY"
        elif status == 403:
            hint = "the API key may not use this model or endpoint"
        elif status == 404 and getattr(error, "code", None) == "model_not_found":
            hint = "the server does not serve this model: check the model name"
        elif status == 404:
            hint = "no such route: check `base_url` (it usually ends in /v1)"
        elif status == 429:
            hint = "rate limited"
        elif status >= 500:
            hint = "server error"
        else:
            hint = "the server rejected the request"
        return f"HTTP {status}, {hint} ({server_says})"
    if isinstance(error, json.JSONDecodeError):  # the SDK could not decode a JSON body
        return f"the server answered with a body that is not valid JSON ({error})"
    return f"{type(error).__name__}: {error}"


def _causes(error: BaseException) -> list[BaseException]:
    chain: list[BaseException] = []
    cause: BaseException | None = error
    while cause is not None and cause not in chain and len(chain) < 16:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    return chain


def _os_error(error: BaseException) -> OSError | None:
    """The operating system's error at the root of a connection error, if there is one."""
    for cause in _causes(error):
        if isinstance(cause, OSError) and cause.errno is not None:
            return cause
    return None


def _connection_problem(error: BaseException) -> str:
    for cause in _causes(error)[1:]:
        if str(cause).strip():
            return str(cause).strip()
    return "connection error"


def _server_message(error: Any) -> str:
    body = getattr(error, "body", None)
    if isinstance(body, dict):
        inner = body.get("error", body)
        message = inner.get("message") if isinstance(inner, dict) else None
        if isinstance(message, str) and message:
            return f"server says: {preview(message, 200)}"
    response = getattr(error, "response", None)
    text = getattr(response, "text", None)
    if isinstance(text, str) and text.strip():
        return f"server says: {preview(text)}"
    return str(error)


def is_attempt_failure(error: BaseException) -> bool:
    """Whether ``error`` says an attempt failed at the server (not a bug or a bad argument)."""
    from afnio.models._retry import is_provider_error

    # The SDK decodes a body served as JSON without catching its errors (a cut body).
    return is_provider_error(error) or isinstance(error, (UnusableReply, json.JSONDecodeError))


def is_unusable_reply(error: BaseException) -> bool:
    """Whether ``error`` is a 200 reply that could not be used (always worth retrying)."""
    return isinstance(error, (UnusableReply, json.JSONDecodeError))


def usable(text: str, completion_args: dict[str, Any]) -> bool:
    """Whether a reply ``text`` (from the cache) is what the request asked for."""
    try:
        check_structured(text, None, completion_args)
    except UnusableReply:
        return False
    return True


def timeout_seconds(timeout: Any) -> float | None:
    """A per-attempt timeout in seconds (the read timeout of an ``httpx.Timeout``)."""
    if isinstance(timeout, (int, float)) and not isinstance(timeout, bool):
        return float(timeout)
    read = getattr(timeout, "read", None)
    return float(read) if isinstance(read, (int, float)) else None
