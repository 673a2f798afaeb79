"""Textual Gradient Descent: :class:`TGD` and the functional :func:`tgd`.

Each step asks a language model (the optimizer model) to rewrite every parameter that received
feedback. The request carries the parameter's role, its complete value, every gradient in full,
the constraints, the momentum window and any in-context examples; the model answers with
structured output (``{"improved_variable": "..."}``), which is checked and retried when unusable.
All parameters of a step are sent concurrently, and they change only if every request succeeds.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from afnio._recording import recording_to
from afnio._runtime import run_sync
from afnio._utils import validate_multi_turn_messages
from afnio._variable import Variable
from afnio.autodiff.grad_mode import enable_grad
from afnio.models import caller_parses_replies
from afnio.optim import _prompts
from afnio.optim.optimizer import Optimizer, ParamsT

__all__ = ["TGD", "ParameterUpdate", "StepRecord", "tgd"]

logger = logging.getLogger("afnio.optim")

MAX_RETRIES = 3
"""How many times TGD asks again after an unusable reply, before raising."""

_FENCE = re.compile(r"^```[A-Za-z0-9_-]*\s*\n?(.*?)\n?```$", re.DOTALL)


@dataclass
class ParameterUpdate:
    """One parameter rewritten by one optimizer step.

    Attributes:
        param: The parameter (updated in place).
        before: Its data before the step.
        after: Its data after the step.
        feedback: The gradients the update was based on.
        calls: The optimizer model calls made for it (``ModelCall`` records), retries included.
    """

    param: Variable
    before: Any
    after: Any
    feedback: list[Variable]
    calls: list[Any] = field(default_factory=list)


@dataclass
class StepRecord:
    """What one :meth:`TGD.step` did.

    Attributes:
        index: The step number, from 0.
        updates: One entry per parameter sent to the optimizer model.
        skipped: The parameters left alone because they had no feedback.
    """

    index: int
    updates: list[ParameterUpdate]
    skipped: list[Variable]

    @property
    def calls(self) -> list[Any]:
        """Every optimizer model call of the step, in parameter order."""
        return [call for update in self.updates for call in update.calls]


class _InvalidUpdate(ValueError):
    """A reply of the optimizer model that cannot be used as the new value."""


def _parse_update(text: Any, original: str) -> str:
    """Extracts the new value from the model's reply, or raises :class:`_InvalidUpdate`."""
    if not isinstance(text, str) or not text.strip():
        raise _InvalidUpdate("the reply was empty")
    candidates = [text.strip()]
    fenced = _FENCE.match(candidates[0])
    if fenced:
        candidates.append(fenced.group(1).strip())
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    payload: Any = None
    for candidate in candidates:
        try:
            payload = json.loads(candidate)
            break
        except json.JSONDecodeError:
            continue
    else:
        raise _InvalidUpdate("the reply was not a JSON object")
    if not isinstance(payload, dict) or not isinstance(payload.get(_prompts.RESPONSE_FIELD), str):
        raise _InvalidUpdate(f'the JSON object had no string field "{_prompts.RESPONSE_FIELD}"')
    value = payload[_prompts.RESPONSE_FIELD].strip()
    if not value:
        raise _InvalidUpdate("the new value was empty")
    for marker in _prompts.LEAK_MARKERS:
        if marker in value and marker not in original:
            raise _InvalidUpdate(
                f"the new value contained the prompt's markup {marker!r}; it must hold only the "
                "variable's text"
            )
    return value


def _check_options(
    model_client: Any,
    messages: Any,
    inputs: Any,
    constraints: Any,
    momentum: Any,
    completion_args: dict[str, Any],
) -> None:
    """Validates TGD's options.

    Raises:
        TypeError: For a wrong type.
        ValueError: For a wrong value, or messages lacking a placeholder the options need.
    """
    if model_client is not None and not callable(getattr(model_client, "achat", None)):
        raise TypeError(
            "`model_client` must be a chat model client (afnio.models.ChatCompletionModel, e.g. "
            f"afnio.models.openai.AsyncOpenAI()), but got {type(model_client).__name__}."
        )
    validate_multi_turn_messages(messages)
    if not messages:
        raise ValueError("`messages` must hold at least one message.")
    if not isinstance(inputs, dict):
        raise TypeError(f"`inputs` must be a dict or None, but got {type(inputs).__name__}.")
    if not isinstance(constraints, list) or not all(
        isinstance(c, (str, Variable)) for c in constraints
    ):
        raise TypeError("`constraints` must be a list of strings or Variables (or None).")
    if isinstance(momentum, bool) or not isinstance(momentum, int) or momentum < 0:
        raise ValueError(f"`momentum` must be an int >= 0, but got {momentum!r}.")
    for reserved in ("messages", "response_format"):
        if reserved in completion_args:
            raise ValueError(
                f"TGD sets `{reserved}` itself; remove it from the completion arguments."
            )
    used: set[str] = set()
    for message in messages:
        for variable in message["content"]:
            used |= _prompts.placeholders(_prompts.render_text(variable))
    needed = {"value", "feedback"}
    if momentum:
        needed.add("past_iterations")
    if constraints:
        needed.add("constraints")
    if "examples" in inputs:
        needed.add("examples")
    missing = sorted(needed - used)
    if missing:
        names = ", ".join("{" + name + "}" for name in missing)
        raise ValueError(
            f"The optimizer messages lack the placeholder(s) {names}: without them the model "
            "would not see what the options provide. Add them to your messages or use the "
            "default messages."
        )
    for key in inputs:
        if key in _prompts.BUILTIN_PLACEHOLDERS and key != "examples":
            raise ValueError(f"`inputs` key {key!r} is reserved: TGD fills {{{key}}} itself.")
        if key not in used:
            raise ValueError(f"`inputs` key {key!r} matches no {{{key}}} placeholder in messages.")


class _Job:
    """One parameter to send to the optimizer model."""

    def __init__(
        self,
        param: Variable,
        feedback: list[Variable],
        buffer: list[Any],
        options: dict[str, Any],
    ) -> None:
        if not isinstance(param.data, str):
            raise TypeError(
                f"TGD can only update text, but the parameter with role {param.role!r} holds "
                f"{type(param.data).__name__}: {param.data!r:.80}."
            )
        if options["model_client"] is None:
            raise ValueError("TGD needs a `model_client` to update parameters, but it is None.")
        self.param = param
        self.feedback = feedback
        self.buffer = buffer
        self.history = list(buffer)
        self.options = options
        self.calls: list[Any] = []

    def record(self, call: Any) -> None:
        self.calls.append(call)

    def name(self) -> str:
        """What the model-call records name as the caller."""
        return "TGD"

    def request(self) -> list[dict[str, str]]:
        inputs = self.options["inputs"]
        values = {k: _prompts.render_text(v) for k, v in inputs.items() if k != "examples"}
        values.update(
            role=self.param.role or "(no role given)",
            value=self.param.data,
            feedback=_prompts.render_feedback(self.feedback),
            past_iterations=_prompts.render_past_iterations(self.history),
            constraints=_prompts.render_constraints(self.options["constraints"]),
            examples=_prompts.render_examples(inputs.get("examples")),
        )
        return [
            {
                "role": message["role"],
                "content": _prompts.fill(
                    "\n".join(_prompts.render_text(v) for v in message["content"]), values
                ),
            }
            for message in self.options["messages"]
        ]

    async def propose(self) -> str:
        """Asks the optimizer model for the new value, retrying unusable replies."""
        conversation = self.request()
        client = self.options["model_client"]
        args = {**self.options["completion_args"], "response_format": _prompts.RESPONSE_FORMAT}
        reason = ""
        text: Any = None
        for attempt in range(1 + MAX_RETRIES):
            with recording_to(self.record, "optimizer"), caller_parses_replies():
                text = await client.achat(messages=conversation, **args)
            try:
                value = _parse_update(text, self.param.data)
            except _InvalidUpdate as exc:
                reason = str(exc)
                logger.warning(
                    "TGD: unusable reply for the parameter with role %r (attempt %d): %s",
                    self.param.role,
                    attempt + 1,
                    reason,
                )
                conversation = [
                    *conversation,
                    {"role": "assistant", "content": text if isinstance(text, str) else ""},
                    {"role": "user", "content": _prompts.retry_message(reason)},
                ]
                continue
            if self.calls:
                self.calls[-1].parsed = {_prompts.RESPONSE_FIELD: value}
            return value
        raise RuntimeError(
            f"TGD could not update the parameter with role {self.param.role!r}: the optimizer "
            f"model gave no usable reply in {1 + MAX_RETRIES} attempts (last problem: {reason}). "
            f"Last reply: {text!r:.300}"
        )

    def apply(self, value: str) -> ParameterUpdate:
        momentum = self.options["momentum"]
        before = self.param.data
        snapshot = self.param.detach()
        self.param.data = value
        self.buffer.append((snapshot, list(self.feedback)))
        if momentum > 0:
            del self.buffer[:-momentum]
        else:
            self.buffer.clear()
        return ParameterUpdate(self.param, before, value, list(self.feedback), list(self.calls))


def _usable_feedback(gradients: Sequence[Variable]) -> list[Variable]:
    return [g for g in gradients if _prompts.render_text(g).strip()]


def _log_skip(param: Variable) -> None:
    logger.info(
        "TGD: the parameter with role %r has no feedback (no gradient, or only empty ones); it "
        "is not sent to the optimizer model and keeps its value.",
        param.role,
    )


def _run(jobs: list[_Job]) -> list[ParameterUpdate]:
    """Runs every job concurrently on afnio's loop; applies the values only if all succeed."""
    if not jobs:
        return []

    async def gather() -> list[Any]:
        return await asyncio.gather(*(job.propose() for job in jobs), return_exceptions=True)

    results = run_sync(gather())
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return [job.apply(value) for job, value in zip(jobs, results)]


def tgd(
    params: list[Variable],
    grads: list[list[Variable]],
    momentum_buffer_list: list[list[Any]],
    model_client: Any,
    messages: list[dict[str, Any]],
    inputs: dict[str, Any],
    constraints: list[Any],
    momentum: int,
    **completion_args: Any,
) -> list[ParameterUpdate]:
    """Functional Textual Gradient Descent: rewrites ``params`` from ``grads``; see :class:`TGD`.

    Parameters whose gradients are all empty are skipped (logged at INFO on ``afnio.optim``).
    ``momentum_buffer_list[i]`` is updated in place: ``(snapshot before the update, gradients
    used)`` is appended and only the last ``momentum`` entries are kept.

    Args:
        params: The Variables to update in place (text data).
        grads: For each parameter, its list of gradient Variables.
        momentum_buffer_list: For each parameter, its momentum buffer (a list).
        model_client: The optimizer model (a chat client with ``achat``).
        messages: The optimizer prompt (see :mod:`afnio.optim._prompts` for placeholders).
        inputs: Values for extra placeholders; ``"examples"`` fills the examples section.
        constraints: Rules the new values must follow (strings or Variables).
        momentum: How many past (value, feedback) pairs to show and keep.
        **completion_args: Passed to the model (``model``, ``temperature``, ``seed``...).

    Returns:
        One :class:`ParameterUpdate` per updated parameter.

    Raises:
        ValueError: If the three lists differ in length, or for invalid options.
        TypeError: For options of the wrong type, or a parameter whose data is not text.
        RuntimeError: If the model gives no usable reply after retries (no parameter changes).
    """
    if not len(params) == len(grads) == len(momentum_buffer_list):
        raise ValueError(
            "`params`, `grads` and `momentum_buffer_list` must have the same length, but got "
            f"{len(params)}, {len(grads)} and {len(momentum_buffer_list)}."
        )
    _check_options(model_client, messages, inputs, constraints, momentum, completion_args)
    options = {
        "model_client": model_client,
        "messages": messages,
        "inputs": inputs,
        "constraints": constraints,
        "momentum": momentum,
        "completion_args": completion_args,
    }
    jobs = []
    for param, gradients, buffer in zip(params, grads, momentum_buffer_list):
        feedback = _usable_feedback(gradients)
        if feedback:
            jobs.append(_Job(param, feedback, buffer, options))
        else:
            _log_skip(param)
    return _run(jobs)


class TGD(Optimizer):
    """Textual Gradient Descent, after the TextGrad paper (arXiv 2406.07496).

    Gradients are natural-language feedback; each step, an optimizer model rewrites every
    parameter that received some, from its role, its complete current value, all of its
    feedback, the constraints, and (with ``momentum``) its last values and the feedback they got.
    Parameters are updated in place, concurrently, and only when every request of the step
    succeeded. Parameters without feedback are not sent (logged at INFO on ``afnio.optim``).

    Args:
        params: The parameters (e.g. ``agent.parameters()``) or parameter groups.
        model_client: The optimizer model, e.g. ``afnio.models.openai.AsyncOpenAI()``.
        messages: A custom optimizer prompt (chat messages of Variables) with the placeholders of
            :mod:`afnio.optim._prompts`; ``{value}`` and ``{feedback}`` are required, and
            ``{past_iterations}``/``{constraints}``/``{examples}`` when those options are used.
            Defaults to afnio's prompt.
        inputs: Values for extra ``{placeholders}`` in ``messages``; ``inputs["examples"]`` (a
            string or list of strings) fills the in-context examples section.
        constraints: Rules every new value must follow.
        momentum: How many past (value, feedback) pairs to show the model and keep in
            ``state[param]["momentum_buffer"]``.
        **completion_args: Passed to the model on every call (``model``, ``temperature``...).

    Attributes:
        calls: Every optimizer model call made so far (``ModelCall`` records).
        history: One :class:`StepRecord` per step.

    Raises:
        TypeError, ValueError: For invalid options (see :func:`tgd`).

    Example:
        >>> import afnio
        >>> from afnio.optim import TGD
        >>> prompt = afnio.cognitive.Parameter("Answr brefly.", role="system prompt")
        >>> optimizer = TGD([prompt], model_client=None, momentum=2, model="gpt-4o-mini")
        >>> optimizer.step()  # no feedback yet: nothing is sent, the value is kept
        (None, None)
        >>> prompt.data
        'Answr brefly.'
    """

    def __init__(
        self,
        params: ParamsT,
        model_client: Any,
        messages: list[dict[str, Any]] | None = None,
        inputs: dict[str, Any] | None = None,
        constraints: list[Any] | None = None,
        momentum: int = 0,
        **completion_args: Any,
    ) -> None:
        messages = _prompts.default_messages() if messages is None else messages
        inputs = {} if inputs is None else inputs
        constraints = [] if constraints is None else constraints
        _check_options(model_client, messages, inputs, constraints, momentum, completion_args)
        defaults = {
            "model_client": model_client,
            "messages": messages,
            "inputs": inputs,
            "constraints": constraints,
            "momentum": momentum,
            "completion_args": completion_args,
        }
        super().__init__(params, defaults)
        self.calls: list[Any] = []
        self.history: list[StepRecord] = []

    @property
    def last_step(self) -> StepRecord | None:
        """The record of the latest step, or ``None`` before the first."""
        return self.history[-1] if self.history else None

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Rewrites every parameter that has feedback.

        Args:
            closure: Called first (with grad mode on); it typically re-runs the agent and
                ``backward()`` and returns the loss ``(score, explanation)``.

        Returns:
            The closure's loss, or ``(None, None)`` without a closure.

        Raises:
            RuntimeError: If the optimizer model gives no usable reply after retries; then no
                parameter changes.
        """
        loss: Any = (None, None)
        if closure is not None:
            with enable_grad():
                loss = closure()
        jobs: list[_Job] = []
        skipped: list[Variable] = []
        for group in self.param_groups:
            options = {key: value for key, value in group.items() if key != "params"}
            _check_options(
                options["model_client"],
                options["messages"],
                options["inputs"],
                options["constraints"],
                options["momentum"],
                options["completion_args"],
            )
            for param in group["params"]:
                feedback = _usable_feedback(param.grad)
                if not feedback:
                    _log_skip(param)
                    skipped.append(param)
                    continue
                state = self.state.get(param, {})
                buffer = state.get("momentum_buffer", [])
                jobs.append(_Job(param, feedback, buffer, options))
        try:
            updates = _run(jobs)
        finally:
            self.calls.extend(call for job in jobs for call in job.calls)
        for job in jobs:
            self.state[job.param]["momentum_buffer"] = job.buffer
        self.history.append(StepRecord(len(self.history), updates, skipped))
        return loss

    def __setstate__(self, state: dict[str, Any]) -> None:
        super().__setstate__(state)
        self.__dict__.setdefault("calls", [])
        self.__dict__.setdefault("history", [])
