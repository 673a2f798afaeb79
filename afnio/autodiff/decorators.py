"""Decorators for autodiff functions."""

from __future__ import annotations

from typing import TypeVar

__all__ = ["evaluator"]

T = TypeVar("T", bound=type)


def evaluator(cls: T) -> T:
    """Marks a :class:`~afnio.autodiff.function.Function` subclass as an evaluator.

    The outputs of an evaluator (a score and an explanation) can start a backward pass without
    an explicit gradient: ``explanation.backward()``.

    Raises:
        TypeError: If applied to something that is not a class, or not a Function subclass.

    Example:
        >>> import afnio
        >>> from afnio.autodiff.decorators import evaluator
        >>> from afnio.autodiff.function import Function
        >>> @evaluator
        ... class Always(Function):
        ...     @staticmethod
        ...     def forward(ctx, prediction):
        ...         return afnio.Variable(1), afnio.Variable("fine")
        ...     @staticmethod
        ...     def backward(ctx, score_grad, explanation_grad):
        ...         return None
        >>> Always._is_evaluator
        True
    """
    from afnio.autodiff.function import Function

    if not isinstance(cls, type):
        raise TypeError("`evaluator` decorator must be applied to a class, not an instance.")
    if not issubclass(cls, Function):
        raise TypeError("`evaluator` decorator must be applied to a subclass of Function.")
    cls._is_evaluator = True
    return cls
