"""Grad mode: whether operations record a backward graph. Per thread, as in PyTorch."""

from __future__ import annotations

import contextlib
import contextvars
import functools
import inspect
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Any, TypeVar, overload

__all__ = ["enable_grad", "is_grad_enabled", "no_grad", "set_grad_enabled"]

F = TypeVar("F", bound=Callable[..., Any])

_state = threading.local()
# The backward engine runs many backward functions concurrently on one event loop thread; a
# context variable lets each of them carry its own mode without touching the thread's flag.
_task_override: contextvars.ContextVar[bool | None] = contextvars.ContextVar(
    "afnio_grad_mode_override", default=None
)


def is_grad_enabled() -> bool:
    """Returns ``True`` if operations currently record a backward graph (the default).

    Example:
        >>> import afnio
        >>> afnio.is_grad_enabled()
        True
        >>> with afnio.no_grad():
        ...     afnio.is_grad_enabled()
        False
    """
    override = _task_override.get()
    if override is not None:
        return override
    return getattr(_state, "enabled", True)


@contextlib.contextmanager
def task_grad_mode(mode: bool) -> Iterator[None]:
    """Sets grad mode for the current asyncio task (and the tasks it starts) only.

    The engine runs backward functions concurrently on one thread; each carries the mode of its
    pass (``create_graph``) without touching the thread's flag.
    """
    token = _task_override.set(mode)
    try:
        yield
    finally:
        _task_override.reset(token)


def _set_enabled(mode: bool) -> None:
    if _task_override.get() is not None:
        _task_override.set(mode)
    else:
        _state.enabled = mode


class _GradModeContext:
    """Base of the grad-mode context managers; instances also work as function decorators."""

    _mode: bool

    def __init__(self) -> None:
        self._previous: list[bool] = []

    def __enter__(self) -> None:
        self._previous.append(is_grad_enabled())
        _set_enabled(self._mode)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        _set_enabled(self._previous.pop())

    def __call__(self, func: F) -> F:
        mode = self._mode
        if inspect.isgeneratorfunction(func) or inspect.isasyncgenfunction(func):
            raise TypeError(f"{type(self).__name__} cannot decorate generator functions.")
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                token = _task_override.set(mode)
                try:
                    return await func(*args, **kwargs)
                finally:
                    _task_override.reset(token)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            with _GradModeContext._fresh(mode):
                return func(*args, **kwargs)

        return wrapper  # type: ignore[return-value]

    @staticmethod
    def _fresh(mode: bool) -> _GradModeContext:
        ctx = _GradModeContext.__new__(_GradModeContext)
        _GradModeContext.__init__(ctx)
        ctx._mode = mode
        return ctx


class _FixedGradMode(_GradModeContext):
    """A context manager for one fixed mode that also decorates, with or without parentheses
    (``@no_grad`` as well as ``@no_grad()``)."""

    def __new__(cls, func: Callable[..., Any] | None = None) -> Any:
        instance = super().__new__(cls)
        if func is None:
            return instance
        if not callable(func):
            raise TypeError(f"{cls.__name__}() takes no arguments or a function, got {func!r}.")
        _GradModeContext.__init__(instance)
        return instance(func)

    def __init__(self, func: Callable[..., Any] | None = None) -> None:
        if func is None:
            super().__init__()


class no_grad(_FixedGradMode):
    """Context manager and decorator that disables graph recording.

    Inside, every operation returns Variables with ``requires_grad=False`` and no ``grad_fn``.
    Factory calls such as ``Variable(..., requires_grad=True)`` or ``Parameter(...)`` are not
    affected. The previous mode is restored on exit, also when an exception is raised. The mode
    is per thread. Usable as ``with no_grad():``, ``@no_grad()`` and ``@no_grad``.

    Example:
        >>> import afnio
        >>> x = afnio.Variable("a", requires_grad=True)
        >>> with afnio.no_grad():
        ...     y = x + x
        >>> y.requires_grad
        False
        >>> @afnio.no_grad
        ... def double(v):
        ...     return v + v
        >>> double(x).requires_grad
        False
    """

    _mode = False

    @overload
    def __new__(cls) -> no_grad: ...
    @overload
    def __new__(cls, func: F) -> F: ...  # type: ignore[misc]

    def __new__(cls, func: Callable[..., Any] | None = None) -> Any:
        return super().__new__(cls, func)


class enable_grad(_FixedGradMode):
    """Context manager and decorator that enables graph recording (e.g. inside ``no_grad``).

    Example:
        >>> import afnio
        >>> x = afnio.Variable("a", requires_grad=True)
        >>> with afnio.no_grad(), afnio.enable_grad():
        ...     (x + x).requires_grad
        True
    """

    _mode = True

    @overload
    def __new__(cls) -> enable_grad: ...
    @overload
    def __new__(cls, func: F) -> F: ...  # type: ignore[misc]

    def __new__(cls, func: Callable[..., Any] | None = None) -> Any:
        return super().__new__(cls, func)


class set_grad_enabled(_GradModeContext):
    """Sets grad mode on or off: as a plain call, as a context manager, or as a decorator.

    As a plain call the mode changes immediately (for this thread) and stays; used with ``with``
    the previous mode comes back at the end of the block.

    Args:
        mode: ``True`` to record graphs, ``False`` not to.

    Raises:
        TypeError: If ``mode`` is not a bool.

    Example:
        >>> import afnio
        >>> x = afnio.Variable("a", requires_grad=True)
        >>> _ = afnio.set_grad_enabled(False)
        >>> (x + x).requires_grad
        False
        >>> _ = afnio.set_grad_enabled(True)
        >>> with afnio.set_grad_enabled(False):
        ...     (x + x).requires_grad
        False
        >>> afnio.is_grad_enabled()
        True
    """

    def __init__(self, mode: bool) -> None:
        if not isinstance(mode, bool):
            raise TypeError(f"`mode` must be a bool, but got {type(mode).__name__}: {mode!r}.")
        super().__init__()
        self._mode = mode
        self._entered_from = is_grad_enabled()
        _set_enabled(mode)

    def __enter__(self) -> None:
        # The mode was already set by __init__; restore what was there before the call.
        self._previous.append(self._entered_from)

    def __call__(self, func: F) -> F:
        _set_enabled(self._entered_from)
        return super().__call__(func)

    def __repr__(self) -> str:
        return f"set_grad_enabled(mode={self._mode})"
