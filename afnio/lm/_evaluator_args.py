"""Argument checks and small helpers shared by the evaluators of :mod:`afnio.lm.evaluators`."""

from __future__ import annotations

from typing import Any

from afnio._variable import Variable
from afnio.autodiff.function import FunctionCtx


def evaluator_roles(prediction: Variable) -> tuple[str, str]:
    return (
        f"Evaluation result score of {prediction.role}",
        f"Evaluation result explanation of {prediction.role}",
    )


def check_prediction(prediction: Any) -> None:
    if not isinstance(prediction, Variable):
        raise TypeError(f"`prediction` must be a Variable, but got {type(prediction).__name__}.")


def target_values(target: Any, n: int | None, optional: bool = False) -> list[Any] | Any:
    """Target values, one per sample (a scalar target is shared by a batch)."""
    if target is None and optional:
        return None
    data = target.data if isinstance(target, Variable) else target
    if not isinstance(data, (str, int, float, list)):
        raise TypeError(
            "`target` must be a str, a number, a list or a Variable, but got "
            f"{type(target).__name__}."
        )
    if isinstance(data, list):
        if n is None:
            raise ValueError(
                f"`target` holds a batch of {len(data)} values but `prediction` holds one value."
            )
        if len(data) != n:
            raise ValueError(
                f"`prediction` and `target` must have the same number of samples, but got {n} "
                f"and {len(data)}."
            )
        return list(data)
    return data if n is None else [data] * n


def check_purpose(value: Any, argname: str, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    text = value.data if isinstance(value, Variable) else value
    if not isinstance(text, str):
        raise TypeError(f"`{argname}` must be a str or a Variable holding one, but got {value!r}.")
    if not text.strip():
        raise ValueError(f"`{argname}` must be a non-empty description.")
    return text


def check_callable(value: Any, argname: str) -> None:
    if value is not None and not callable(value):
        raise TypeError(f"`{argname}` must be a function or None, but got {type(value).__name__}.")


def describe_reduction(reduction_fn: Any, reduction_fn_purpose: Any) -> str | None:
    check_callable(reduction_fn, "reduction_fn")
    if reduction_fn is None:
        return None
    return check_purpose(reduction_fn_purpose, "reduction_fn_purpose")


def check_score(score: Any) -> Any:
    if isinstance(score, (bool, int, float)):
        return score
    raise TypeError(f"`eval_fn` must return a number or a bool per sample, but got {score!r}.")


def empty_feedback_like(prediction: Variable, n: int | None) -> Variable:
    data: Any = [""] * n if n is not None else ""
    return Variable(data, role=f"feedback to {prediction.role}")


def downstream_feedback(*grads: Variable | None) -> str:
    texts: list[str] = []
    for grad in grads:
        if grad is None:
            continue
        items = grad.data if isinstance(grad.data, list) else [grad.data]
        texts.extend(str(t) for t in items if t not in (None, ""))
    return "\n\n".join(texts)


def prediction_gradient_only(
    ctx: FunctionCtx, grad: Variable | None
) -> tuple[Variable | None, ...]:
    """One gradient per input edge: ``grad`` for the prediction (first input), None otherwise."""
    out: list[Variable | None] = []
    given = False
    for var in ctx.input_variables:
        mine = var is ctx.prediction and not given
        out.append(grad if mine else None)
        given = given or mine
    return tuple(out)
