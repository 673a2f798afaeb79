"""The :class:`LMJudgeEvaluator` op module."""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

from afnio._variable import Variable
from afnio.cognitive import functional as F
from afnio.cognitive.modules.module import Module
from afnio.models.model import BaseModel

__all__ = ["LMJudgeEvaluator"]


def _as_variable(value: Any) -> Variable | None:
    if value is None or isinstance(value, Variable):
        return value
    return Variable(value)


class LMJudgeEvaluator(Module):
    """Scores a prediction with a language model as the judge (see
    :func:`afnio.cognitive.functional.lm_judge_evaluator`).

    The last call's client, messages, functions, purposes, ``eval_mode`` and completion
    arguments are kept as members.

    Example:
        >>> import afnio.cognitive as cog
        >>> judge = cog.LMJudgeEvaluator()
        >>> judge.eval_mode is None
        True
    """

    forward_model_client: BaseModel | None
    messages: list[dict[str, Any]] | None
    success_fn: Callable[..., Any] | None
    reduction_fn: Callable[..., Any] | None
    reduction_fn_purpose: Variable | None
    eval_mode: Variable | None
    completion_args: dict[str, Any] | None

    def __init__(self) -> None:
        super().__init__()
        self.register_model("forward_model_client", None)
        self.register_chat("messages", None)
        self.register_function("success_fn", None)
        self.register_function("reduction_fn", None)
        self.register_buffer("reduction_fn_purpose", None)
        self.register_buffer("eval_mode", None)
        self.register_completion_config("completion_args", None)

    def forward(
        self,
        forward_model_client: BaseModel | None,
        messages: list[dict[str, Any]],
        prediction: Variable,
        target: Any = None,
        inputs: dict[str, Any] | None = None,
        success_fn: Callable[..., Any] | None = None,
        reduction_fn: Callable[..., Any] | None = builtins.sum,
        reduction_fn_purpose: str | Variable | None = "summation",
        eval_mode: bool | Variable = True,
        **completion_args: Any,
    ) -> tuple[Variable, Variable]:
        """Returns ``(score, explanation)`` as judged by the model."""
        self.forward_model_client = forward_model_client
        self.messages = messages
        self.success_fn = success_fn
        self.reduction_fn = reduction_fn
        self.reduction_fn_purpose = _as_variable(reduction_fn_purpose)
        self.eval_mode = _as_variable(eval_mode)
        self.completion_args = completion_args
        return F.lm_judge_evaluator(
            forward_model_client,
            messages,
            prediction,
            target,
            inputs,
            success_fn,
            reduction_fn,
            self.reduction_fn_purpose,
            self.eval_mode,
            **completion_args,
        )
