"""Which provider errors to retry, and how long to wait before the next attempt."""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RetryPolicy", "is_provider_error", "is_retryable", "retry_after_seconds", "status_of"]


def status_of(error: BaseException) -> int | None:
    """The HTTP status code of a provider error, if it has one."""
    status = getattr(error, "status_code", None)
    return status if isinstance(status, int) else None


def is_provider_error(error: BaseException) -> bool:
    """Whether ``error`` comes from the provider's SDK (HTTP status, timeout, connection)."""
    import openai

    return isinstance(error, openai.APIError)


def is_retryable(error: BaseException) -> bool:
    """Whether an attempt that raised ``error`` is worth retrying.

    Rate limits (429), request timeouts (408), conflicts (409), server errors (5xx), timeouts and
    connection errors are; client errors such as 400, 401, 403, 404 and 422 are not.
    """
    import openai

    if isinstance(error, (openai.APITimeoutError, openai.APIConnectionError)):
        return True
    status = status_of(error)
    if status is None:
        return False
    return status in (408, 409, 429) or status >= 500


def retry_after_seconds(error: BaseException) -> float | None:
    """The wait the server asked for (``retry-after-ms`` or ``Retry-After``), in seconds."""
    response = getattr(error, "response", None)
    headers: Any = getattr(response, "headers", None)
    if headers is None:
        return None
    millis = headers.get("retry-after-ms")
    if millis is not None:
        try:
            return max(0.0, float(millis) / 1000.0)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    parsed = email.utils.parsedate_to_datetime(value) if value else None
    if parsed is None:
        return None
    return max(0.0, parsed.timestamp() - time.time())


@dataclass
class RetryPolicy:
    """Exponential backoff with full jitter, bounded by a retry budget.

    The wait before retry ``k`` (0-based) is drawn uniformly from ``[0, min(max_delay,
    base_delay * 2**k)]``; when the server sent ``Retry-After`` (or ``retry-after-ms``), that
    wait is used instead, capped at ``max_delay``.

    Args:
        max_retries: Retries after the first attempt (so ``max_retries + 1`` attempts at most).
        base_delay: Seconds of the first backoff window.
        max_delay: Longest wait between two attempts, in seconds.
        seed: Seeds the jitter, for reproducible waits in tests; ``None`` draws from the OS.
    """

    max_retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 30.0
    seed: int | None = None
    _rng: random.Random = field(init=False, repr=False)

    def __post_init__(self) -> None:
        if isinstance(self.max_retries, bool) or not isinstance(self.max_retries, int):
            raise TypeError(f"`max_retries` must be an int, but got {self.max_retries!r}.")
        if self.max_retries < 0:
            raise ValueError(f"`max_retries` must be >= 0, but got {self.max_retries!r}.")
        if self.base_delay < 0 or self.max_delay < 0:
            raise ValueError(
                "`retry_base_delay` and `retry_max_delay` must be >= 0, but got "
                f"{self.base_delay!r} and {self.max_delay!r}."
            )
        self._rng = random.Random(self.seed)

    def delay(self, retry: int, error: BaseException | None = None) -> float:
        """Seconds to wait before retry number ``retry`` (0-based) after ``error``."""
        asked = retry_after_seconds(error) if error is not None else None
        if asked is not None:
            return min(asked, self.max_delay)
        window = min(self.max_delay, self.base_delay * (2**retry))
        return self._rng.uniform(0.0, window)
