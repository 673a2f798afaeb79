"""How language-model backward passes turn model feedback into gradients.

* Targets: which Variables of a call receive feedback, with their value in each sample.
* Gradients: how per-sample feedback becomes exactly one gradient per Variable (see
  :mod:`afnio.lm.chat_completion` for the rule).
* The backward-model call of one sample (a structured call, see :mod:`afnio.lm.structured`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Sequence
from dataclasses import dataclass, field
from typing import Any

from afnio._model_client import get_backward_model_client
from afnio._variable import Variable
from afnio.autodiff.function import FunctionCtx
from afnio.lm._prompts import FeedbackTarget, chat_backward_messages, feedback_response_format
from afnio.lm.structured import feedback_parser, structured_call
from afnio.lm.templates import PromptInput, as_text
from afnio.models.records import sample_index

__all__ = [
    "GradientTarget",
    "backward_feedback",
    "collect_targets",
    "gather_all",
    "gradients_for",
    "merge_feedback",
    "per_sample_feedback",
    "split_sample_feedback",
]


# -- feedback targets ------------------------------------------------------------------------------


@dataclass
class GradientTarget:
    """A Variable that receives a gradient, and its per-sample values."""

    variable: Variable
    kind: str  # "shared", "batched" or "item"
    where: str
    samples: dict[int, str] = field(default_factory=dict)  # sample -> value shown


def collect_targets(
    messages: Sequence[dict[str, Any]], inputs: Sequence[PromptInput], n: int | None
) -> list[GradientTarget]:
    """The Variables of ``messages`` and ``inputs`` that require grad, each once, in order."""
    targets: dict[int, GradientTarget] = {}
    indices = range(n) if n is not None else [0]

    def add(var: Variable, kind: str, where: str, sample: int, value: Any) -> None:
        target = targets.get(id(var))
        if target is None:
            target = targets[id(var)] = GradientTarget(var, kind, where)
        elif where not in target.where:
            target.where += f"; {where}"
        target.samples.setdefault(sample, as_text(value))

    for mi, message in enumerate(messages):
        for var in message["content"]:
            if not var.requires_grad:
                continue
            batched = n is not None and isinstance(var.data, list)
            for i in indices:
                value = var.data[i] if batched else var.data
                add(
                    var,
                    "batched" if batched else "shared",
                    f"in the {message['role']} message (message {mi + 1})",
                    i,
                    value,
                )
    for item in inputs:
        for i in indices:
            var = item.variable_at(i)
            if var is None or not var.requires_grad:
                continue
            kind = (
                "item"
                if isinstance(item.value, list)
                else ("batched" if item.length is not None else "shared")
            )
            add(var, kind, f"as the value of the placeholder {{{item.name}}}", i, item.at(i))
    return list(targets.values())


SAMPLE_FEEDBACK_HEADER = "Feedback from sample {sample} of {n}:"
"""Introduces each sample's part of a shared Variable's gradient (``sample`` counts from 1)."""

_SAMPLE_HEADER = re.compile(r"^Feedback from sample (\d+) of (\d+):\n", re.MULTILINE)


def split_sample_feedback(text: str) -> list[tuple[int | None, str]]:
    r"""Splits the gradient text of a Variable shared by a batch's samples into
    ``(sample, feedback)`` pairs, ``sample`` counted from 0; text that carries no sample header
    (an unbatched call, or a gradient written by hand) comes back as ``(None, text)``.

    Example:
        >>> split_sample_feedback("Feedback from sample 2 of 3:\nBe brief.\n\n"
        ...                       "Feedback from sample 3 of 3:\nSay why.")
        [(1, 'Be brief.'), (2, 'Say why.')]
        >>> split_sample_feedback("Be brief.")
        [(None, 'Be brief.')]
    """
    matches = list(_SAMPLE_HEADER.finditer(text))
    if not matches:
        return [(None, text)] if text else []
    out: list[tuple[int | None, str]] = []
    head = text[: matches[0].start()].strip()
    if head:
        out.append((None, head))
    for k, match in enumerate(matches):
        end = matches[k + 1].start() if k + 1 < len(matches) else len(text)
        out.append((int(match.group(1)) - 1, text[match.end() : end].strip()))
    return out


def gradients_for(
    ctx: FunctionCtx,
    targets: Sequence[GradientTarget],
    feedback: dict[int, dict[int, str]],
    n: int | None,
) -> tuple[Variable | None, ...]:
    """One gradient per input edge of ``ctx``: the merged feedback of each target Variable.

    ``feedback`` maps ``id(variable)`` to ``{sample: text}``.
    """
    grads: dict[int, Variable] = {}
    for target in targets:
        var = target.variable
        per_sample = feedback.get(id(var), {})
        role = f"feedback to {var.role}"
        if target.kind == "batched":
            size = n if n is not None else 1
            grads[id(var)] = Variable([per_sample.get(i, "") for i in range(size)], role=role)
        elif target.kind == "item" or n is None:
            grads[id(var)] = Variable(next(iter(per_sample.values()), ""), role=role)
        else:
            parts = [
                f"{SAMPLE_FEEDBACK_HEADER.format(sample=i + 1, n=n)}\n{text}"
                for i, text in sorted(per_sample.items())
                if text
            ]
            grads[id(var)] = Variable("\n\n".join(parts), role=role)
    out: list[Variable | None] = []
    for var in ctx.input_variables:
        # A Variable used twice gets its gradient once: on its first edge.
        out.append(grads.pop(id(var), None))
    return tuple(out)


async def gather_all(coros: Sequence[Awaitable[Any]]) -> list[Any]:
    """Awaits every coroutine concurrently; raises the first error in input order, if any."""
    results = await asyncio.gather(*coros, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return list(results)


async def backward_feedback(
    conversation: list[dict[str, str]],
    response: str,
    response_role: str,
    objective: str,
    targets: Sequence[tuple[GradientTarget, str]],
    evaluation: bool = False,
    sample: int | None = None,
) -> dict[int, str]:
    """One backward-model call for one sample: ``{id(variable): feedback}`` for ``targets``
    (pairs of a target and its value in this sample); ``sample`` goes into the call records."""
    client = get_backward_model_client()
    shown = [
        FeedbackTarget(f"feedback_{k}", t.variable.role, value, t.where)
        for k, (t, value) in enumerate(targets, start=1)
    ]
    messages = chat_backward_messages(
        conversation, response, response_role, objective, shown, evaluation=evaluation
    )
    response_format = feedback_response_format(shown)

    async def send(msgs: list[dict[str, Any]]) -> str:
        with sample_index(sample):
            return await client.achat(msgs, response_format=response_format)

    names = [t.name for t in shown]
    expected = f"a JSON object with the string fields {names!r}"
    parsed = await structured_call(send, messages, feedback_parser(names), expected, client._model)
    return {id(t.variable): parsed[s.name] for (t, _), s in zip(targets, shown)}


def per_sample_feedback(grad: Variable | None, n: int | None) -> list[str]:
    """The feedback text for each sample (a scalar gradient applies to every sample).

    Raises:
        ValueError: If a batched gradient's length differs from the batch size.
    """
    size = n if n is not None else 1
    if grad is None:
        return [""] * size
    data = grad.data
    if isinstance(data, list):
        if n is None:
            return ["\n\n".join(as_text(d) for d in data if d not in (None, ""))]
        if len(data) != n:
            raise ValueError(
                f"The gradient has {len(data)} items but the batch has {n} samples "
                f"(gradient role {grad.role!r})."
            )
        return [as_text(d).strip() for d in data]
    return [as_text(data).strip()] * size


def merge_feedback(a: Variable | None, b: Variable | None, n: int | None) -> Variable | None:
    """Joins the feedback on the score and on the explanation, sample by sample."""
    grads = [g for g in (a, b) if g is not None]
    if not grads:
        return None
    per = [per_sample_feedback(g, n) for g in grads]
    joined = ["\n\n".join(t for t in texts if t) for texts in zip(*per)]
    return Variable(joined if n is not None else joined[0])
