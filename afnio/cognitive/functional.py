"""The functional API: every afnio operation as a plain function.

Also available as ``afnio.functional``; conventionally imported as ``F``.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from typing import Any

from afnio._utils import MultiTurnMessages
from afnio._variable import Variable
from afnio.autodiff.basic_ops import Add, Split, Sum
from afnio.lm.chat_completion import ChatCompletion
from afnio.lm.evaluators import DeterministicEvaluator, ExactMatchEvaluator, LMJudgeEvaluator
from afnio.models.model import BaseModel

__all__ = [
    "add",
    "chat_completion",
    "deterministic_evaluator",
    "exact_match_evaluator",
    "lm_judge_evaluator",
    "split",
    "sum",
]


def add(x: Variable, y: Variable) -> Variable:
    """Adds two Variables (see :class:`afnio.autodiff.basic_ops.Add`).

    Example:
        >>> import afnio
        >>> import afnio.cognitive.functional as F
        >>> F.add(afnio.Variable(1), afnio.Variable(2)).data
        3
    """
    return Add.apply(x, y)


def sum(x: list[Variable]) -> Variable:
    """Aggregates a list of Variables (see :class:`afnio.autodiff.basic_ops.Sum`).

    Example:
        >>> import afnio
        >>> import afnio.cognitive.functional as F
        >>> a = afnio.Variable("Hello,", requires_grad=True)
        >>> b = afnio.Variable("world!", requires_grad=True)
        >>> F.sum([a, b]).grad_fn.name()
        'SumBackward0'
    """
    return Sum.apply(x)


def split(x: Variable, sep: Any = None, maxsplit: Any = -1) -> tuple[Variable, ...]:
    """Splits text into parts (see :class:`afnio.autodiff.basic_ops.Split`).

    Example:
        >>> import afnio
        >>> import afnio.cognitive.functional as F
        >>> [p.data for p in F.split(afnio.Variable("a b c"), " ")]
        ['a', 'b', 'c']
    """
    return Split.apply(x, sep, maxsplit)


def chat_completion(
    forward_model_client: BaseModel | None,
    messages: MultiTurnMessages,
    inputs: dict[str, Any] | None = None,
    **completion_args: Any,
) -> Variable:
    """Calls a chat model on templated messages (see :class:`afnio.lm.ChatCompletion`).

    Example:
        >>> import afnio
        >>> import afnio.cognitive.functional as F
        >>> from afnio.models import AsyncOpenAI
        >>> from afnio.testing import LocalServer, ScriptedModel
        >>> script = ScriptedModel()
        >>> _ = script.when(user="Hello World").reply('print("Hello World!")')
        >>> with LocalServer(script) as server:
        ...     model = AsyncOpenAI(base_url=server.base_url, api_key=server.api_key)
        ...     task = afnio.Variable("Write Python that prints {text}.", role="task")
        ...     out = F.chat_completion(model, [{"role": "user", "content": [task]}],
        ...                             inputs={"text": "Hello World"}, model="gpt-4o")
        >>> out.data
        'print("Hello World!")'
    """
    return ChatCompletion.apply(forward_model_client, messages, inputs, **completion_args)


def deterministic_evaluator(
    prediction: Variable,
    target: Any,
    eval_fn: Callable[..., Any],
    eval_fn_purpose: Any,
    success_fn: Callable[[list[Any]], bool] | None,
    reduction_fn: Callable[[list[Any]], Any] | None,
    reduction_fn_purpose: Any,
) -> tuple[Variable, Variable]:
    """Scores a prediction with a Python function (see
    :class:`afnio.lm.DeterministicEvaluator`).

    Example:
        >>> import afnio
        >>> import afnio.cognitive.functional as F
        >>> def same(p, t):
        ...     return int(p == t)
        >>> pred = afnio.Variable(["green", "blue"], role="color", requires_grad=True)
        >>> score, _ = F.deterministic_evaluator(
        ...     pred, ["red", "blue"], same, "exact match", None, builtins.sum, "summation")
        >>> score.data
        1
    """
    return DeterministicEvaluator.apply(
        prediction,
        target,
        eval_fn,
        eval_fn_purpose,
        success_fn,
        reduction_fn,
        reduction_fn_purpose,
    )


def exact_match_evaluator(
    prediction: Variable,
    target: Any,
    reduction_fn: Callable[[list[Any]], Any] | None = builtins.sum,
    reduction_fn_purpose: Any = "summation",
) -> tuple[Variable, Variable]:
    """Scores 1 per sample whose prediction equals its target (see
    :class:`afnio.lm.ExactMatchEvaluator`).

    Example:
        >>> import afnio
        >>> import afnio.cognitive.functional as F
        >>> pred = afnio.Variable(["positive", "negative"], role="sentiment")
        >>> F.exact_match_evaluator(pred, ["positive", "neutral"])[0].data
        1
    """
    return ExactMatchEvaluator.apply(prediction, target, reduction_fn, reduction_fn_purpose)


def lm_judge_evaluator(
    forward_model_client: BaseModel | None,
    messages: MultiTurnMessages,
    prediction: Variable,
    target: Any = None,
    inputs: dict[str, Any] | None = None,
    success_fn: Callable[[list[Any]], bool] | None = None,
    reduction_fn: Callable[[list[Any]], Any] | None = builtins.sum,
    reduction_fn_purpose: Any = "summation",
    eval_mode: Any = True,
    **completion_args: Any,
) -> tuple[Variable, Variable]:
    """Asks a language model to score a prediction (see
    :class:`afnio.lm.LMJudgeEvaluator`, which has a runnable example)."""
    return LMJudgeEvaluator.apply(
        forward_model_client,
        messages,
        prediction,
        target,
        inputs,
        success_fn,
        reduction_fn,
        reduction_fn_purpose,
        eval_mode,
        **completion_args,
    )
