"""Reproducible fault injection for the local OpenAI-compatible server.

Whether an attempt fails, and how, is a pure function of a seed, the request and how many times
that same request was seen before; it never depends on the order in which requests arrive.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

__all__ = ["DEFAULT_FAULT_KINDS", "FAULT_KINDS", "JSON_FAULT_KINDS", "Faults", "check_fault_kind"]

FAULT_KINDS = (
    "429",
    "500",
    "503",
    "timeout",
    "hang",
    "disconnect",
    "malformed_json",
    "truncated_json",
    "html",
    "truncated_body",
)
"""Every fault the server can inject."""

DEFAULT_FAULT_KINDS = ("429", "500", "timeout", "malformed_json", "truncated_json")
"""The faults drawn by :class:`Faults` unless told otherwise."""

JSON_FAULT_KINDS = frozenset({"malformed_json", "truncated_json"})
"""Faults that corrupt JSON content; drawn for a request that wants no JSON, they mean success."""


@dataclass(frozen=True)
class Faults:
    """Random but reproducible fault injection.

    The fate of a request is a pure function of ``seed``, the request's canonical JSON body and
    ``attempt``, the number of times the server had already seen that exact body. So each
    distinct request's k-th attempt always meets the same fate, whatever the order in which
    requests arrive, and retries of one request eventually succeed (with probability 1 when
    ``rate < 1``; surely after ``max_per_request`` faults when that is set).

    Args:
        rate: Probability that an attempt is drawn to fail, in ``[0, 1]``.
        kinds: The faults to choose from, uniformly (see :data:`FAULT_KINDS`). ``"429"``,
            ``"500"`` and ``"503"`` answer with that status in OpenAI's error format (429 with
            ``Retry-After`` and ``retry-after-ms`` headers); ``"timeout"`` holds the connection
            without answering for ``timeout_seconds`` (or until the client gives up), then closes
            it; ``"hang"`` never answers (it holds the connection until the client hangs up or
            the server stops); ``"disconnect"`` closes the connection without answering;
            ``"malformed_json"`` answers 200 with content that is not JSON and
            ``"truncated_json"`` with the JSON content cut in half (``finish_reason="length"``)
            — these two apply only when JSON output was requested, otherwise the attempt
            succeeds; ``"html"`` answers 200 with an HTML page (as a proxy or a wrong route
            does) and ``"truncated_body"`` answers 200 with the HTTP body itself, a JSON
            document, cut in half.
        seed: Changes every fate.
        retry_after: Seconds sent in the ``Retry-After`` header of a 429 (may be fractional).
        timeout_seconds: How long a ``"timeout"`` holds the connection; make it longer than
            the client's timeout.
        max_per_request: If set, attempts from this index on always succeed, so one distinct
            request fails at most this many times.

    Raises:
        ValueError: For a rate outside ``[0, 1]``, an unknown kind or a negative duration.

    Example:
        >>> faults = Faults(rate=0.5, kinds=("429", "500"), seed=8)
        >>> [faults.choose("request A", attempt, wants_json=False) for attempt in range(4)]
        ['429', '500', '429', None]
    """

    rate: float = 0.0
    kinds: tuple[str, ...] = DEFAULT_FAULT_KINDS
    seed: int = 0
    retry_after: float = 0.05
    timeout_seconds: float = 10.0
    max_per_request: int | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"fault rate must be between 0 and 1, got {self.rate!r}")
        object.__setattr__(self, "kinds", tuple(self.kinds))
        for kind in self.kinds:
            check_fault_kind(kind)
        if not self.retry_after >= 0:
            raise ValueError(f"retry_after must be >= 0 seconds, got {self.retry_after!r}")
        if not self.timeout_seconds >= 0:
            raise ValueError(f"timeout_seconds must be >= 0, got {self.timeout_seconds!r}")
        if self.max_per_request is not None and self.max_per_request < 0:
            raise ValueError(f"max_per_request must be >= 0, got {self.max_per_request!r}")

    def choose(self, key: str, attempt: int, *, wants_json: bool) -> str | None:
        """The fault for one attempt of one request, or ``None`` for success.

        Args:
            key: Identifies the request (the server uses a sha256 of its canonical body).
            attempt: How many times this request was seen before (0 for the first attempt).
            wants_json: Whether the request asked for JSON output.

        Returns:
            One of ``kinds``, or ``None``.
        """
        if self.rate <= 0.0 or not self.kinds:
            return None
        if self.max_per_request is not None and attempt >= self.max_per_request:
            return None
        digest = hashlib.sha256(f"{self.seed}\x00{attempt}\x00{key}".encode()).digest()
        draw = int.from_bytes(digest[:8], "big") / 2.0**64
        if draw >= self.rate:
            return None
        kind = self.kinds[int.from_bytes(digest[8:16], "big") % len(self.kinds)]
        if kind in JSON_FAULT_KINDS and not wants_json:
            return None
        return kind


def check_fault_kind(kind: str) -> str:
    """``kind`` if it is one of :data:`FAULT_KINDS`.

    Raises:
        ValueError: Naming the known kinds.
    """
    if kind not in FAULT_KINDS:
        raise ValueError(f"unknown fault kind {kind!r}; expected one of {list(FAULT_KINDS)!r}")
    return kind
