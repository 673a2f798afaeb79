"""Tells a person, at WARNING, that model calls are taking long, instead of showing nothing.

A call that has not finished after :data:`NOTICE_AFTER` seconds (a slow or silent server, a long
backoff) gets a log line saying what it waits for and for how long; the line comes again every
:data:`NOTICE_EVERY` seconds while calls of that client still wait. One line speaks for every
waiting call of a client, so a batch of 32 slow calls does not print 32 lines. Python's last-resort
handler prints warnings to stderr when logging is not configured, which a notebook shows under
the cell.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import time
from collections.abc import Callable
from typing import Any

__all__ = ["NOTICE_AFTER", "NOTICE_EVERY", "WaitNotices"]

NOTICE_AFTER = 5.0
"""Seconds a call runs before it is reported as slow."""

NOTICE_EVERY = 15.0
"""Seconds between two reports about the same client's waiting calls."""


class WaitNotices:
    """Reports the calls of one client that wait longer than ``after`` seconds.

    Args:
        logger: Where the reports go (at WARNING).
        describe: Returns the report for the call that has waited longest, given its token
            and how many seconds it has waited.
        after: Seconds before a call is first reported.
        every: Seconds between two reports.
    """

    def __init__(
        self,
        logger: logging.Logger,
        describe: Callable[[Any, float], str],
        after: float = NOTICE_AFTER,
        every: float = NOTICE_EVERY,
    ) -> None:
        self._logger = logger
        self._describe = describe
        self.after = after
        self.every = every
        self._waiting: dict[int, tuple[float, Any]] = {}
        self._timers: dict[int, asyncio.TimerHandle] = {}
        self._last_report = float("-inf")

    # The timers run in an empty context: a timer made in the caller's context would keep what
    # that context holds (the caller's frame, see afnio._callsite, and through it the client)
    # alive until the loop drops the cancelled timer, so a dropped client would outlive `del`.

    def begin(self, token: Any) -> int:
        """Starts timing one call (on the running loop); returns the key to :meth:`end` it."""
        key = id(token)
        self._waiting[key] = (time.monotonic(), token)
        loop = asyncio.get_running_loop()
        empty = contextvars.Context()
        self._timers[key] = loop.call_later(self.after, self._check, key, context=empty)
        return key

    def end(self, key: int) -> None:
        """Stops timing a call."""
        self._waiting.pop(key, None)
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()

    def _check(self, key: int) -> None:
        if key not in self._waiting:
            return
        now = time.monotonic()
        if now - self._last_report >= self.every - 0.5:
            started, token = min(self._waiting.values(), key=lambda item: item[0])
            others = len(self._waiting) - 1
            message = self._describe(token, now - started)
            if others:
                plural = "call" if others == 1 else "calls"
                message += f" ({others} more {plural} of this client waiting)"
            self._logger.warning("%s", message)
            self._last_report = now
        loop = asyncio.get_running_loop()
        empty = contextvars.Context()
        self._timers[key] = loop.call_later(self.every, self._check, key, context=empty)
