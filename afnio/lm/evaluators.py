"""Evaluators: score a prediction and explain the score; their backward writes feedback.

All three return ``(score, explanation)``, two Variables with one ``grad_fn`` and roles
``"Evaluation result score of {prediction.role}"`` / ``"Evaluation result explanation of
{prediction.role}"``. They are ``@evaluator`` Functions, so ``explanation.backward()`` needs no
gradient argument.

Batches. With list data, every sample is scored; with a ``reduction_fn`` the scores are reduced
to one (and the explanation says so), without one the score and explanation hold lists. A scalar
prediction is never reduced.

``eval_fn`` contract. ``eval_fn(prediction_item, target_item)`` is called once per sample with
raw data (``Variable.data`` items, not Variables) and returns a number or a bool. A function
that scores a whole batch at once can say so with the attribute ``eval_fn.batched = True``: it
is then called once with the two lists and must return one score per sample.

Backward. If ``success_fn(scores)`` is true no model is called and the prediction gets an empty
gradient. Otherwise the deterministic evaluators make **one** backward-model call for the whole
batch, asking for feedback on each sample's prediction: a scalar prediction gets a text gradient,
a batched one list data aligned with the batch (``""`` for samples that need no change). The LM
judge makes one call per sample (concurrently), shown the judge's conversation and verdict.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from afnio._model_client import get_backward_model_client
from afnio._utils import validate_multi_turn_messages
from afnio._variable import Variable
from afnio.autodiff.decorators import evaluator
from afnio.autodiff.function import Function, FunctionCtx
from afnio.lm._evaluator_args import (
    check_callable,
    check_prediction,
    check_purpose,
    check_score,
    describe_reduction,
    downstream_feedback,
    empty_feedback_like,
    evaluator_roles,
    prediction_gradient_only,
    target_values,
)
from afnio.lm._prompts import (
    FeedbackTarget,
    evaluator_backward_messages,
    feedback_response_format,
    judge_response_format,
)
from afnio.lm.feedback import (
    GradientTarget,
    backward_feedback,
    collect_targets,
    gather_all,
    gradients_for,
    merge_feedback,
    per_sample_feedback,
)
from afnio.lm.structured import feedback_parser, parse_verdict, structured_call
from afnio.lm.templates import batch_size, check_client, check_inputs, render_messages
from afnio.models.model import ChatCompletionModel
from afnio.models.records import sample_index

__all__ = [
    "DeterministicEvaluator",
    "EvaluationSample",
    "ExactMatchEvaluator",
    "LMJudgeEvaluator",
    "evaluation_samples",
]

JUDGE_RESPONSE_ROLE = "evaluation written by the LM judge"

_SINGLE = (
    "The evaluation function, designed for '{purpose}', compared the <DATA> field of the "
    "predicted variable ('{pred}') with the <DATA> field of the target variable ('{target}'), "
    "resulting in a score: {score}."
)
_BATCH = (
    "The evaluation function, designed for '{purpose}', compared the <DATA> fields of the "
    "predicted variable and the target variable across all samples in the batch, generating "
    "individual scores for each pair. These scores were then aggregated using the reduction "
    "function '{reduction}', resulting in a final aggregated score: {score}."
)
_JUDGE_BATCH = (
    "The evaluation function, designed using an LM as the judge, compared the <DATA> fields of "
    "the predicted variable and the target variable across all samples in the batch. These "
    "scores were then aggregated using the reduction function '{reduction}', resulting in a "
    "final aggregated score: {score}."
)


def _deterministic_forward(
    ctx: FunctionCtx,
    prediction: Variable,
    target: Any,
    eval_fn: Callable[..., Any],
    purpose: str,
    success_fn: Callable[[list[Any]], bool] | None,
    reduction_fn: Callable[[list[Any]], Any] | None,
    reduction_purpose: str | None,
) -> tuple[Variable, Variable]:
    n = len(prediction.data) if isinstance(prediction.data, list) else None
    targets = target_values(target, n)
    if n is None:
        scores = [check_score(eval_fn(prediction.data, targets))]
        score: Any = scores[0]
        explanation: Any = _SINGLE.format(
            purpose=purpose, pred=prediction.data, target=targets, score=score
        )
    else:
        if getattr(eval_fn, "batched", False):
            result = eval_fn(list(prediction.data), targets)
            if not isinstance(result, (list, tuple)) or len(result) != n:
                got = len(result) if isinstance(result, (list, tuple)) else type(result).__name__
                raise ValueError(
                    f"The batched `eval_fn` must return {n} scores (one per sample), got {got}."
                )
            scores = [check_score(s) for s in result]
        else:
            scores = [check_score(eval_fn(p, t)) for p, t in zip(prediction.data, targets)]
        if reduction_fn is not None:
            score = reduction_fn(scores)
            explanation = _BATCH.format(purpose=purpose, reduction=reduction_purpose, score=score)
        else:
            score = scores
            explanation = [
                _SINGLE.format(purpose=purpose, pred=p, target=t, score=s)
                for p, t, s in zip(prediction.data, targets, scores)
            ]
    ctx.prediction = prediction
    ctx.save_for_backward(
        {
            "n": n,
            "predictions": list(prediction.data) if n is not None else [prediction.data],
            "targets": targets if n is not None else [targets],
            "scores": scores,
            "explanation": explanation if isinstance(explanation, str) else "\n".join(explanation),
            "purpose": purpose,
            "success_fn": success_fn,
        }
    )
    score_role, explanation_role = evaluator_roles(prediction)
    return Variable(score, role=score_role), Variable(explanation, role=explanation_role)


async def _deterministic_backward(
    ctx: FunctionCtx, score_grad: Variable | None, explanation_grad: Variable | None
) -> tuple[Variable | None, ...]:
    (state,) = ctx.saved_variables
    prediction: Variable = ctx.prediction
    if not prediction.requires_grad:
        return prediction_gradient_only(ctx, None)
    n = state["n"]
    success_fn = state["success_fn"]
    if success_fn is not None and success_fn(state["scores"]):
        return prediction_gradient_only(ctx, empty_feedback_like(prediction, n))
    samples = [
        {"prediction": p, "target": t, "score": s}
        for p, t, s in zip(state["predictions"], state["targets"], state["scores"])
    ]
    names = ["feedback"] if n is None else [f"sample_{i}" for i in range(1, n + 1)]
    shown = [
        FeedbackTarget(
            name, prediction.role, str(s["prediction"]), f"as the prediction of sample {i}"
        )
        for i, (name, s) in enumerate(zip(names, samples), start=1)
    ]
    client = get_backward_model_client()
    messages = evaluator_backward_messages(
        state["purpose"],
        prediction.role,
        samples,
        state["explanation"],
        downstream_feedback(score_grad, explanation_grad),
        shown,
    )
    response_format = feedback_response_format(shown)

    async def send(msgs: list[dict[str, Any]]) -> str:
        return await client.achat(msgs, response_format=response_format)

    expected = f"a JSON object with the string fields {names!r}"
    parsed = await structured_call(send, messages, feedback_parser(names), expected, client._model)
    data: Any = parsed["feedback"] if n is None else [parsed[name] for name in names]
    return prediction_gradient_only(ctx, Variable(data, role=f"feedback to {prediction.role}"))


@evaluator
class DeterministicEvaluator(Function):
    """Scores a prediction against a target with a Python function.

    ``DeterministicEvaluator.apply(prediction, target, eval_fn, eval_fn_purpose, success_fn,
    reduction_fn, reduction_fn_purpose)`` (see the module docstring for batches, the ``eval_fn``
    contract and the backward pass).

    Args:
        prediction: The Variable to evaluate (scalar or list data).
        target: The expected value(s): str, number, list, or a Variable.
        eval_fn: ``eval_fn(prediction_item, target_item) -> number | bool``.
        eval_fn_purpose: What ``eval_fn`` checks (non-empty str or Variable).
        success_fn: ``success_fn(scores) -> bool``; when true, backward calls no model.
        reduction_fn: Reduces the batch's scores (e.g. ``sum``), or ``None``.
        reduction_fn_purpose: What ``reduction_fn`` does (required with it).

    Returns:
        ``(score, explanation)``.

    Raises:
        TypeError: For arguments of the wrong type.
        ValueError: For mismatched batch lengths, empty purposes, or a batched ``eval_fn``
            returning the wrong number of scores.

    Example:
        >>> import afnio
        >>> from afnio.lm import DeterministicEvaluator
        >>> def exact(p, t):
        ...     return int(p == t)
        >>> pred = afnio.Variable(["green", "blue"], role="color", requires_grad=True)
        >>> score, explanation = DeterministicEvaluator.apply(
        ...     pred, ["red", "blue"], exact, "exact match", None, sum, "summation")
        >>> score.data, score.role
        (1, 'Evaluation result score of color')
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        prediction: Variable,
        target: Any,
        eval_fn: Callable[..., Any],
        eval_fn_purpose: Any,
        success_fn: Callable[[list[Any]], bool] | None,
        reduction_fn: Callable[[list[Any]], Any] | None,
        reduction_fn_purpose: Any,
    ) -> tuple[Variable, Variable]:
        check_prediction(prediction)
        if not callable(eval_fn):
            raise TypeError(f"`eval_fn` must be a function, but got {type(eval_fn).__name__}.")
        purpose = check_purpose(eval_fn_purpose, "eval_fn_purpose")
        check_callable(success_fn, "success_fn")
        reduction = describe_reduction(reduction_fn, reduction_fn_purpose)
        assert purpose is not None
        return _deterministic_forward(
            ctx, prediction, target, eval_fn, purpose, success_fn, reduction_fn, reduction
        )

    backward = staticmethod(_deterministic_backward)


def _exact_match(prediction: Any, target: Any) -> int:
    return 1 if prediction == target else 0


@evaluator
class ExactMatchEvaluator(Function):
    """Scores 1 for each sample whose prediction equals its target, else 0.

    ``ExactMatchEvaluator.apply(prediction, target, reduction_fn=sum,
    reduction_fn_purpose="summation")``; otherwise as :class:`DeterministicEvaluator` with the
    purpose ``"exact match"``.

    Example:
        >>> import afnio
        >>> from afnio.lm import ExactMatchEvaluator
        >>> pred = afnio.Variable("green", role="color", requires_grad=True)
        >>> score, explanation = ExactMatchEvaluator.apply(pred, "red")
        >>> score.data
        0
        >>> print(explanation.data)  # doctest: +NORMALIZE_WHITESPACE
        The evaluation function, designed for 'exact match', compared the <DATA> field of the
        predicted variable ('green') with the <DATA> field of the target variable ('red'),
        resulting in a score: 0.
    """

    @staticmethod
    def forward(
        ctx: FunctionCtx,
        prediction: Variable,
        target: Any,
        reduction_fn: Callable[[list[Any]], Any] | None = builtins.sum,
        reduction_fn_purpose: Any = "summation",
    ) -> tuple[Variable, Variable]:
        check_prediction(prediction)
        reduction = describe_reduction(reduction_fn, reduction_fn_purpose)
        return _deterministic_forward(
            ctx, prediction, target, _exact_match, "exact match", None, reduction_fn, reduction
        )

    backward = staticmethod(_deterministic_backward)


# -- LM judge --------------------------------------------------------------------------------------


def _eval_mode(value: Any) -> bool:
    data = value.data if isinstance(value, Variable) else value
    if not isinstance(data, (bool, int)):
        raise TypeError(f"`eval_mode` must be a bool or a Variable holding one, but got {value!r}.")
    return bool(data)


@evaluator
class LMJudgeEvaluator(Function):
    """Asks a language model to score a prediction (optionally against a target).

    ``LMJudgeEvaluator.apply(forward_model_client, messages, prediction, target=None,
    inputs=None, success_fn=None, reduction_fn=sum, reduction_fn_purpose="summation",
    eval_mode=True, **completion_args)``.

    The judge's ``messages`` are templates (as in ``ChatCompletion``) where ``{prediction}`` and
    ``{target}`` are filled from ``prediction`` and ``target``, other placeholders from
    ``inputs``. The judge answers with structured output ``{"score", "explanation"}`` (a strict
    JSON schema unless ``response_format`` is given); a reply that cannot be parsed is asked
    again, up to ``BACKWARD_PASS_MAX_RETRIES`` times, then ``RuntimeError``.

    With ``eval_mode`` true (the default), backward gives feedback to ``prediction`` so that it
    scores better; with ``eval_mode`` false, to the Variables of ``messages`` and ``inputs`` (to
    align the judge with the feedback its evaluation received).

    Raises:
        TypeError: For arguments of the wrong type.
        ValueError: For ``inputs`` keys ``prediction``/``target``, mismatched batch lengths, a
            placeholder without a value, or an empty ``reduction_fn_purpose``.
        RuntimeError: If the judge's reply cannot be parsed after the retries.

    Example:
        >>> import afnio
        >>> from afnio.lm import LMJudgeEvaluator
        >>> from afnio.models.openai import AsyncOpenAI
        >>> from afnio.testing import LocalServer, ScriptedModel
        >>> script = ScriptedModel()
        >>> _ = script.when(user="Hola").reply(
        ...     {"score": False, "explanation": "Spanish, not Italian."})
        >>> with LocalServer(script) as server:
        ...     judge = AsyncOpenAI(base_url=server.base_url, api_key=server.api_key)
        ...     task = afnio.Variable("Is {prediction} in {language}?", role="judge prompt")
        ...     pred = afnio.Variable("Hola", role="translation", requires_grad=True)
        ...     score, why = LMJudgeEvaluator.apply(
        ...         judge, [{"role": "user", "content": [task]}], pred,
        ...         inputs={"language": "Italian"}, model="gpt-4o")
        >>> score.data, why.data
        (False, 'Spanish, not Italian.')
    """

    @staticmethod
    async def forward(
        ctx: FunctionCtx,
        forward_model_client: ChatCompletionModel,
        messages: list[dict[str, Any]],
        prediction: Variable,
        target: Any = None,
        inputs: dict[str, Any] | None = None,
        success_fn: Callable[[list[Any]], bool] | None = None,
        reduction_fn: Callable[[list[Any]], Any] | None = builtins.sum,
        reduction_fn_purpose: Any = "summation",
        eval_mode: Any = True,
        **completion_args: Any,
    ) -> tuple[Variable, Variable]:
        check_client(forward_model_client)
        validate_multi_turn_messages(messages)
        check_prediction(prediction)
        described = check_inputs(inputs)
        clash = [item.name for item in described if item.name in ("prediction", "target")]
        if clash:
            raise ValueError(
                f"`inputs` must not use the keys reserved for the judge's placeholders: {clash!r}."
            )
        check_callable(success_fn, "success_fn")
        reduction = describe_reduction(reduction_fn, reduction_fn_purpose)
        mode = _eval_mode(eval_mode)
        if "model" not in completion_args:
            raise TypeError("LMJudgeEvaluator needs the model name, e.g. `model='gpt-4o'`.")
        pred_n = len(prediction.data) if isinstance(prediction.data, list) else None
        target_value = target.data if isinstance(target, Variable) else target
        target_n = len(target_value) if isinstance(target_value, list) else None
        n = batch_size(messages, described, {"prediction": pred_n, "target": target_n})
        predictions = prediction.data if pred_n is not None else [prediction.data] * (n or 1)
        targets = target_values(target, n, optional=True)
        if targets is not None and n is None:
            targets = [targets]
        args = dict(completion_args)
        args.setdefault("response_format", judge_response_format())
        conversations = []
        for i in range(n if n is not None else 1):
            values = {item.name: item.at(i) for item in described}
            values["prediction"] = "" if predictions[i] is None else str(predictions[i])
            if targets is not None:
                values["target"] = "" if targets[i] is None else str(targets[i])
            conversations.append(render_messages(messages, values, i if n is not None else None))

        async def judge(
            i: int | None, conversation: list[dict[str, str]]
        ) -> tuple[dict[str, Any], str]:
            replies: list[str] = []

            async def send(msgs: list[dict[str, Any]]) -> str:
                with sample_index(i):
                    reply = await forward_model_client.achat(messages=msgs, **args)
                replies.append(reply)
                return reply

            expected = "a JSON object with 'score' (number or bool) and 'explanation' (string)"
            verdict = await structured_call(
                send, conversation, parse_verdict, expected, str(args.get("model"))
            )
            return verdict, replies[-1]

        results = await gather_all(
            [judge(i if n is not None else None, c) for i, c in enumerate(conversations)]
        )
        scores = [verdict["score"] for verdict, _ in results]
        explanations = [verdict["explanation"] for verdict, _ in results]
        if n is None:
            score: Any = scores[0]
            explanation: Any = explanations[0]
        elif reduction_fn is not None:
            score = reduction_fn(scores)
            explanation = _JUDGE_BATCH.format(reduction=reduction, score=score)
        else:
            score, explanation = scores, explanations
        if mode:
            kind = "batched" if pred_n is not None else "shared"
            target_info = GradientTarget(
                prediction, kind, "as the value of the placeholder {prediction}"
            )
            if prediction.requires_grad:
                for i in range(n if n is not None else 1):
                    target_info.samples[i] = str(predictions[i])
            grad_targets = [target_info] if prediction.requires_grad else []
        else:
            grad_targets = collect_targets(messages, described, n)
        ctx.save_for_backward(
            {
                "n": n,
                "predictions": list(predictions),
                "target_values": None if targets is None else list(targets),
                "conversations": conversations,
                "replies": [reply for _, reply in results],
                "verdicts": [verdict for verdict, _ in results],
                "scores": scores,
                "targets": grad_targets,
                "eval_mode": mode,
                "success_fn": success_fn,
            }
        )
        score_role, explanation_role = evaluator_roles(prediction)
        return Variable(score, role=score_role), Variable(explanation, role=explanation_role)

    @staticmethod
    async def backward(
        ctx: FunctionCtx, score_grad: Variable | None, explanation_grad: Variable | None
    ) -> tuple[Variable | None, ...]:
        (state,) = ctx.saved_variables
        n = state["n"]
        targets: list[GradientTarget] = state["targets"]
        success_fn = state["success_fn"]
        if success_fn is not None and success_fn(state["scores"]):
            return gradients_for(ctx, targets, {}, n)
        downstream = per_sample_feedback(merge_feedback(score_grad, explanation_grad, n), n)
        jobs, indices = [], []
        for i, verdict in enumerate(state["verdicts"]):
            pairs = [(t, t.samples[i]) for t in targets if i in t.samples]
            if not pairs:
                continue
            if state["eval_mode"]:
                objective = f"Score: {verdict['score']}\nExplanation: {verdict['explanation']}"
                if downstream[i]:
                    objective += f"\n\nFeedback on this evaluation:\n{downstream[i]}"
            elif downstream[i]:
                objective = downstream[i]
            else:
                continue  # nothing to align the judge with
            indices.append(i)
            jobs.append(
                backward_feedback(
                    state["conversations"][i],
                    state["replies"][i],
                    JUDGE_RESPONSE_ROLE,
                    objective,
                    pairs,
                    evaluation=state["eval_mode"],
                    sample=i if n is not None else None,
                )
            )
        results = await gather_all(jobs)
        merged: dict[int, dict[int, str]] = {}
        for i, result in zip(indices, results):
            for key, text in result.items():
                merged.setdefault(key, {})[i] = text
        return gradients_for(ctx, targets, merged, n)


# -- per-sample results ----------------------------------------------------------------------------


@dataclass(frozen=True)
class EvaluationSample:
    """What an evaluator saw and decided for one sample (see :func:`evaluation_samples`)."""

    prediction: Any
    target: Any
    score: Any
    explanation: str


_EVALUATOR_NODES = frozenset(
    f"{cls.__name__}Backward0"
    for cls in (DeterministicEvaluator, ExactMatchEvaluator, LMJudgeEvaluator)
)


def evaluation_samples(output: Variable) -> list[EvaluationSample] | None:
    """The per-sample predictions, targets, scores and explanations of the evaluation that
    produced ``output`` (its score or its explanation), before any reduction.

    A reduced batch score (``reduction_fn=sum``) hides which samples failed; this gives them
    back, one :class:`EvaluationSample` per sample (one for an unbatched evaluation). A
    deterministic evaluator's per-sample explanation is the one it writes without a reduction;
    the LM judge's is the judge's own.

    Args:
        output: The score or the explanation returned by an evaluator.

    Returns:
        The samples, or ``None`` when ``output`` was not produced by an evaluator with a graph
        (e.g. under ``no_grad``) or a backward pass without ``retain_graph`` already freed it.

    Example:
        >>> import afnio
        >>> from afnio.lm.evaluators import ExactMatchEvaluator, evaluation_samples
        >>> pred = afnio.Variable(["red", "blue"], role="color", requires_grad=True)
        >>> score, explanation = ExactMatchEvaluator.apply(pred, ["red", "green"])
        >>> score.data
        1
        >>> [(s.prediction, s.target, s.score) for s in evaluation_samples(explanation)]
        [('red', 'red', 1), ('blue', 'green', 0)]
    """
    if not isinstance(output, Variable):
        raise TypeError(
            "`output` must be the score or explanation Variable returned by an evaluator, but "
            f"got {type(output).__name__}."
        )
    node = output.grad_fn
    if node is None or node.name() not in _EVALUATOR_NODES:
        return None
    try:
        (state,) = node.saved_variables  # type: ignore[attr-defined]
    except (RuntimeError, ValueError):
        return None  # freed by a backward pass
    scores = list(state["scores"])
    if "verdicts" in state:  # the LM judge
        predictions = list(state["predictions"])
        targets = state["target_values"]
        targets = list(targets) if targets is not None else [None] * len(scores)
        explanations = [str(v["explanation"]) for v in state["verdicts"]]
    else:
        predictions, targets = list(state["predictions"]), list(state["targets"])
        explanations = [
            _SINGLE.format(purpose=state["purpose"], pred=p, target=t, score=s)
            for p, t, s in zip(predictions, targets, scores)
        ]
    rows = zip(predictions, targets, scores, explanations)
    return [EvaluationSample(p, t, s, e) for p, t, s, e in rows]
