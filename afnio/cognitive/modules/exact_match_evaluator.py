"""The :class:`ExactMatchEvaluator` op module."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

from afnio._variable import Variable
from afnio.cognitive import functional as F
from afnio.cognitive.modules.module import Module

__all__ = ["ExactMatchEvaluator"]


class ExactMatchEvaluator(Module):
    """Scores 1 per sample whose prediction equals the target, else 0 (see
    :func:`afnio.cognitive.functional.exact_match_evaluator`).

    Example:
        >>> import afnio.cognitive as cog
        >>> evaluator = cog.ExactMatchEvaluator()
        >>> evaluator.reduction_fn is None
        True
    """

    reduction_fn: Callable[..., Any] | None
    reduction_fn_purpose: Variable | None

    def __init__(self) -> None:
        super().__init__()
        self.register_function("reduction_fn", None)
        self.register_buffer("reduction_fn_purpose", None)

    def forward(
        self,
        prediction: Variable,
        target: Any,
        reduction_fn: Callable[..., Any] | None = builtins.sum,
        reduction_fn_purpose: str | Variable | None = "summation",
    ) -> tuple[Variable, Variable]:
        """Returns ``(score, explanation)``."""
        self.reduction_fn = reduction_fn
        self.reduction_fn_purpose = (
            reduction_fn_purpose
            if reduction_fn_purpose is None or isinstance(reduction_fn_purpose, Variable)
            else Variable(reduction_fn_purpose)
        )
        return F.exact_match_evaluator(prediction, target, reduction_fn, self.reduction_fn_purpose)
