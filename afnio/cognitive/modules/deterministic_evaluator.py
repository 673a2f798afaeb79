"""The :class:`DeterministicEvaluator` op module."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from afnio._variable import Variable
from afnio.cognitive import functional as F
from afnio.cognitive.modules.module import Module

__all__ = ["DeterministicEvaluator"]


def _as_variable(value: Any) -> Variable | None:
    if value is None or isinstance(value, Variable):
        return value
    return Variable(value)


class DeterministicEvaluator(Module):
    """Scores a prediction with a Python function (see
    :func:`afnio.cognitive.functional.deterministic_evaluator`).

    The functions of the last call are kept as function members (``eval_fn``, ``success_fn``,
    ``reduction_fn``) and the purposes as buffers. Any function works, lambdas and closures
    included; only saving a state dict that holds a lambda or closure fails (use a module-level
    function if you save checkpoints).

    Example:
        >>> import afnio.cognitive as cog
        >>> evaluator = cog.DeterministicEvaluator()
        >>> sorted(name for name, _ in evaluator._functions.items())
        ['eval_fn', 'reduction_fn', 'success_fn']
    """

    eval_fn: Callable[..., Any] | None
    success_fn: Callable[..., Any] | None
    reduction_fn: Callable[..., Any] | None
    eval_fn_purpose: Variable | None
    reduction_fn_purpose: Variable | None

    def __init__(self) -> None:
        super().__init__()
        self.register_function("eval_fn", None)
        self.register_function("success_fn", None)
        self.register_function("reduction_fn", None)
        self.register_buffer("eval_fn_purpose", None)
        self.register_buffer("reduction_fn_purpose", None)

    def forward(
        self,
        prediction: Variable,
        target: Any,
        eval_fn: Callable[..., Any],
        eval_fn_purpose: str | Variable,
        success_fn: Callable[..., Any] | None,
        reduction_fn: Callable[..., Any] | None,
        reduction_fn_purpose: str | Variable | None,
    ) -> tuple[Variable, Variable]:
        """Returns ``(score, explanation)``."""
        self.eval_fn = eval_fn
        self.success_fn = success_fn
        self.reduction_fn = reduction_fn
        self.eval_fn_purpose = _as_variable(eval_fn_purpose)
        self.reduction_fn_purpose = _as_variable(reduction_fn_purpose)
        return F.deterministic_evaluator(
            prediction,
            target,
            eval_fn,
            self.eval_fn_purpose,
            success_fn,
            reduction_fn,
            self.reduction_fn_purpose,
        )
