"""Records of model calls, and the error raised when a call fails for good.

Every call a model client makes (forward, backward or optimizer; success or failure; cache hit or
not) produces one :class:`ModelCall`. The client hands it to the recorder in effect (the graph
node that made the call, see :mod:`afnio._recording`) and keeps it in its own bounded history.
Records never hold secrets: API keys live only inside the provider SDK's client, and header
values that look like credentials are masked before they reach a record.
"""

from __future__ import annotations

import contextvars
import copy
import itertools
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "ModelCall",
    "ModelCallError",
    "current_sample",
    "jsonable",
    "operation_name",
    "redact",
    "sample_index",
]

_sample: contextvars.ContextVar[int | None] = contextvars.ContextVar("afnio_sample", default=None)


@contextmanager
def sample_index(index: int | None) -> Iterator[None]:
    """Marks the model calls made inside the block as made for batch sample ``index``."""
    token = _sample.set(index)
    try:
        yield
    finally:
        _sample.reset(token)


def current_sample() -> int | None:
    """The batch sample the current model call is made for, if an operation said so."""
    return _sample.get()


def operation_name(phase: str | None, node: str | None, sample: int | None = None) -> str | None:
    """What made a model call, for a person: the operation, the phase and the batch sample.

    A graph node is named after its operation (``ChatCompletion`` records as
    ``ChatCompletionBackward0``), but its forward calls are made by the operation itself.

    Example:
        >>> operation_name("forward", "ChatCompletionBackward0", 3)
        'ChatCompletion forward, sample 3'
        >>> operation_name("backward", "ChatCompletionBackward0")
        'ChatCompletion backward (ChatCompletionBackward0)'
        >>> operation_name("optimizer", "TGD")
        'TGD step'
    """
    if node is None:
        return None
    operation = re.sub(r"Backward\d+$", "", node) or node
    if phase == "optimizer":
        described = f"{operation} step"
    elif phase == "backward" and operation != node:
        described = f"{operation} backward ({node})"
    elif phase in ("forward", "backward"):
        described = f"{operation} {phase}"
    else:
        described = operation
    return described if sample is None else f"{described}, sample {sample}"


_ids = itertools.count(1)

_SECRET_NAMES = frozenset(
    {
        "access_token",
        "api_key",
        "apikey",
        "authorization",
        "client_secret",
        "cookie",
        "password",
        "proxy-authorization",
        "secret",
        "token",
        "webhook_secret",
    }
)
_MASK = "***"


def _looks_secret(name: str) -> bool:
    lowered = name.lower().replace("-", "_")
    return (
        lowered in _SECRET_NAMES
        or lowered.replace("_", "-") in _SECRET_NAMES
        or lowered.endswith(("api_key", "_secret", "_token", "_password"))
    )


def redact(value: Any) -> Any:
    """Returns a copy of ``value`` where dict entries whose key names a credential
    (``api_key``, ``Authorization``, ``X-Api-Key``, ``access_token``, ``Cookie``...) are masked
    as ``"***"``. Ordinary arguments such as ``max_completion_tokens`` are left alone.

    Example:
        >>> redact({"extra_headers": {"Authorization": "Bearer sk-123", "X-Trace": "7"}})
        {'extra_headers': {'Authorization': '***', 'X-Trace': '7'}}
    """
    if isinstance(value, dict):
        out: dict[Any, Any] = {}
        for key, item in value.items():
            secret = isinstance(key, str) and _looks_secret(key)
            if secret and isinstance(item, (str, bytes, int, float)):
                out[key] = _MASK
                continue
            out[key] = redact(item)
        return out
    if isinstance(value, (list, tuple)):
        return [redact(item) for item in value]
    return value


def jsonable(value: Any) -> Any:
    """Converts ``value`` to plain JSON types: pydantic models are dumped, tuples become lists,
    other unknown objects become their ``repr``.

    Example:
        >>> jsonable({"stop": ("\\n",), "n": 1})
        {'stop': ['\\n'], 'n': 1}
    """
    if value is None or isinstance(value, (str, bool, int, float)):
        return value
    if isinstance(value, dict):
        return {str(key): jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(item) for item in value]
    dump = getattr(value, "model_dump", None)
    if callable(dump):
        return jsonable(dump())
    return repr(value)


@dataclass
class ModelCall:
    """One call to a model: what was asked, what came back, and what it cost.

    Attributes:
        id: A number unique within the process, increasing with call order.
        phase: ``"forward"``, ``"backward"``, ``"optimizer"``, or ``None`` outside any graph
            operation.
        node: The name of the graph node that made the call (e.g. ``"ChatCompletionBackward0"``),
            if any.
        sample: The index of the batch sample the call was made for (``None`` when the call
            served a whole batch or no batch).
        provider: E.g. ``"openai"``.
        model: The requested model name.
        messages: The chat messages sent, in full.
        completion_args: Every other argument sent (``temperature``, ``response_format``...),
            with credential-like header values masked.
        response: The reply text; ``None`` if the call failed.
        parsed: What the operation parsed from the reply (e.g. a JSON dict); set by the operation.
        usage: Token counters of this call; empty for a cache hit or a failure.
        cost: Price in USD; ``0.0`` for a cache hit, ``None`` when the model's price is unknown
            or the call failed.
        latency: Seconds from the first attempt to the end, retries and waits included.
        retries: How many attempts were retried (0 when the first attempt succeeded).
        cache_hit: Whether the reply came from the response cache.
        error: A description of the final error, or ``None`` on success.
        started_at: Wall-clock start time (seconds since the epoch).

    Example:
        >>> from afnio.models.records import ModelCall
        >>> call = ModelCall(provider="openai", model="gpt-4o",
        ...                  messages=[{"role": "user", "content": "Hi"}], response="Hello!")
        >>> call.to_dict()["response"]
        'Hello!'
    """

    provider: str | None = None
    model: str | None = None
    messages: list[dict[str, Any]] = field(default_factory=list)
    completion_args: dict[str, Any] = field(default_factory=dict)
    response: str | None = None
    parsed: Any = None
    usage: dict[str, Any] = field(default_factory=dict)
    cost: float | None = None
    latency: float = 0.0
    retries: int = 0
    cache_hit: bool = False
    error: str | None = None
    phase: str | None = None
    node: str | None = None
    sample: int | None = None
    started_at: float = 0.0
    id: int = field(default_factory=lambda: next(_ids))

    def to_dict(self) -> dict[str, Any]:
        """Returns the record as a dict of plain JSON types (for widgets and snapshots)."""
        data = {
            "id": self.id,
            "phase": self.phase,
            "node": self.node,
            "sample": self.sample,
            "provider": self.provider,
            "model": self.model,
            "messages": jsonable(copy.deepcopy(self.messages)),
            "completion_args": jsonable(redact(self.completion_args)),
            "response": self.response,
            "parsed": jsonable(self.parsed),
            "usage": jsonable(self.usage),
            "cost": self.cost,
            "latency": self.latency,
            "retries": self.retries,
            "cache_hit": self.cache_hit,
            "error": self.error,
            "started_at": self.started_at,
        }
        json.dumps(data)  # fail here, not in a widget, if something slipped through
        return data

    def __repr__(self) -> str:
        status = "error" if self.error else ("cache hit" if self.cache_hit else "ok")
        cost = "unknown" if self.cost is None else f"${self.cost:.6f}"
        return (
            f"ModelCall(id={self.id}, phase={self.phase!r}, node={self.node!r}, "
            f"model={self.model!r}, {status}, cost={cost}, latency={self.latency:.3f}s, "
            f"retries={self.retries})"
        )


class ModelCallError(RuntimeError):
    """A model call failed for good: a non-retryable error, or retries exhausted.

    The message names the provider, the model, the graph node (if any), the number of attempts
    and the last provider error (its type and message, with the API key masked). That error is
    deliberately not chained as ``__cause__``: providers echo request details, credentials
    included, in their messages, and a chained error would print them in every traceback.

    When raised through a blocking call (``chat``, an operation, ``backward()``), its
    traceback starts at afnio's entry point, so the caller's own line is near the top.

    Attributes:
        provider: The provider name.
        model: The requested model.
        base_url: The endpoint that was called, or ``None``.
        operation: What made the call, e.g. ``"ChatCompletion forward, sample 3"``, or ``None``
            outside any graph operation.
        node: The name of the graph node that made the call, or ``None``.
        attempts: How many attempts were made.
        status_code: The HTTP status of the last error, if it had one.
        error_type: The class name of the last provider error (e.g. ``"RateLimitError"``).
        record: The :class:`ModelCall` describing the failed call.
    """

    raised_for_the_caller = True

    def __init__(
        self,
        message: str,
        *,
        provider: str | None = None,
        model: str | None = None,
        node: str | None = None,
        attempts: int = 0,
        status_code: int | None = None,
        record: ModelCall | None = None,
        error_type: str | None = None,
        base_url: str | None = None,
        operation: str | None = None,
    ) -> None:
        super().__init__(message)
        self.error_type = error_type
        self.base_url = base_url
        self.operation = operation
        self.provider = provider
        self.model = model
        self.node = node
        self.attempts = attempts
        self.status_code = status_code
        self.record = record
