"""Logging set-up for afnio's own loggers (the ``afnio`` hierarchy), as in afnio 0.3.7.

Nothing is configured on import. Without :func:`configure_logging`, afnio's records reach your
own logging set-up like any library's. :func:`configure_logging` gives the ``afnio`` logger a
level and a handler of its own and never touches the root logger (afnio 0.3.7 called
``logging.basicConfig(force=True)``, replacing the application's handlers).
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager

__all__ = ["configure_logging", "set_logger_level"]

LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}
DEBUG_FORMAT = "%(asctime)s - %(name)-35s - %(levelname)-9s - %(message)s"
DEFAULT_FORMAT = "%(levelname)-9s: %(message)s"


# The handler configure_logging installed, replaced (never stacked) by the next call.
_handler: logging.Handler | None = None


def _level(level: int | str, argname: str) -> int:
    if isinstance(level, bool) or not isinstance(level, (int, str)):
        raise TypeError(
            f"`{argname}` must be a level name ({', '.join(LEVELS)}) or an int, but got "
            f"{type(level).__name__}: {level!r}."
        )
    if isinstance(level, int):
        return level
    if level.lower() not in LEVELS:
        raise ValueError(f"Unknown `{argname}` {level!r}: use one of {', '.join(LEVELS)}.")
    return LEVELS[level.lower()]


def configure_logging(verbosity: str = "info") -> None:
    """Makes afnio print its log records at ``verbosity`` and above, on stderr.

    The ``afnio`` logger gets the level and one handler (calling again replaces it, so records
    are never printed twice); it stops passing records on to the root logger, whose level and
    handlers are left as they are. At ``"debug"`` lines carry the time and the logger's name.

    Args:
        verbosity: ``"debug"``, ``"info"``, ``"warning"``, ``"error"`` or ``"critical"``.

    Raises:
        TypeError: If ``verbosity`` is not a str.
        ValueError: If it is not one of the names above.

    Example:
        >>> import logging
        >>> from afnio.logging_config import configure_logging
        >>> afnio_logger = logging.getLogger("afnio")
        >>> before = afnio_logger.level, afnio_logger.propagate, list(afnio_logger.handlers)
        >>> configure_logging("warning")
        >>> afnio_logger.level == logging.WARNING, afnio_logger.propagate
        (True, False)
        >>> afnio_logger.level, afnio_logger.propagate, afnio_logger.handlers[:] = before
    """
    if not isinstance(verbosity, str):
        raise TypeError(f"`verbosity` must be a str, but got {type(verbosity).__name__}.")
    level = _level(verbosity, "verbosity")
    global _handler
    afnio_logger = logging.getLogger("afnio")
    if _handler is not None:
        afnio_logger.removeHandler(_handler)
    _handler = handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(
        logging.Formatter(DEBUG_FORMAT if level <= logging.DEBUG else DEFAULT_FORMAT)
    )
    afnio_logger.addHandler(handler)
    afnio_logger.setLevel(level)
    afnio_logger.propagate = False


@contextmanager
def set_logger_level(logger_name: str, level: int | str) -> Iterator[None]:
    """Sets the level of logger ``logger_name`` inside the block, and restores it after.

    Args:
        logger_name: The logger's name, e.g. ``"afnio.trainer"``.
        level: A level name (``"warning"``) or number (``logging.WARNING``).

    Raises:
        TypeError: If ``logger_name`` is not a str or ``level`` not a name or an int.
        ValueError: If ``level`` is an unknown name.

    Example:
        >>> import logging
        >>> from afnio.logging_config import set_logger_level
        >>> with set_logger_level("afnio.trainer", "error"):
        ...     logging.getLogger("afnio.trainer").level == logging.ERROR
        True
    """
    if not isinstance(logger_name, str):
        raise TypeError(f"`logger_name` must be a str, but got {type(logger_name).__name__}.")
    target = logging.getLogger(logger_name)
    previous = target.level
    target.setLevel(_level(level, "level"))
    try:
        yield
    finally:
        target.setLevel(previous)
