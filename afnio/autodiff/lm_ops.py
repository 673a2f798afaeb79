"""Language-model operations: :class:`ChatCompletion` and the machinery of LM backward passes.

Templates. The content Variables of chat messages are templates: ``{name}``, where ``name`` is a
Python identifier, is replaced by ``inputs[name]``; ``{{`` and ``}}`` stand for literal braces.
Any other brace text (``{"a": 1}``, ``{ x }``, ``{0}``) is left as it is, so JSON examples in a
prompt need no escaping. An identifier placeholder without a value in ``inputs`` raises
``ValueError``. Input values are inserted verbatim (never themselves treated as templates). The
content Variables of one message are joined with a blank line.

Batches. An input that is a list (of strings, or of Variables), a Variable holding a list, or a
content Variable holding a list makes the call batched: one model call per sample, all sent
concurrently, and the output holds a list. All batched values must have the same length; scalars
are shared by every sample.

Backward. Per sample with non-empty feedback, **one** call to the backward model returns
feedback for every Variable of that sample that requires grad (structured JSON output, one field
per Variable). Samples run concurrently. Each Variable then receives exactly one gradient:

* a Variable shared by all samples (a system prompt, a scalar input) gets the feedback of every
  sample, joined in sample order, each part introduced by ``Feedback from sample i of n:``
  (unlabelled when the call was not batched; :func:`split_sample_feedback` splits it back);
* a Variable holding a batch (list data) gets list data: item ``i`` is the feedback from sample
  ``i`` (``""`` when there was none);
* an item of a list of Variables gets the feedback of its own sample.

A Variable that needs no change gets an empty string. Feedback is never repeated.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from afnio._utils import _validate_multi_turn_messages
from afnio._variable import Variable
from afnio.autodiff._lm_backward import (
    _Target,
    as_text,
    backward_feedback,
    collect_targets,
    gather_all,
    gradients_for,
    per_sample_feedback,
    split_sample_feedback,
)
from afnio.autodiff.function import Function
from afnio.models.model import ChatCompletionModel
from afnio.models.records import sample_index

__all__ = ["CHAT_RESPONSE_ROLE", "ChatCompletion", "split_sample_feedback"]

CHAT_RESPONSE_ROLE = "response to the chat messages"
"""The role of a :class:`ChatCompletion` output."""

_TEMPLATE = re.compile(r"\{\{|\}\}|\{([A-Za-z_][A-Za-z0-9_]*)\}")


# -- templates and batches -------------------------------------------------------------------------


def fill_template(template: str, values: dict[str, str], where: str = "the template") -> str:
    """Fills the ``{identifier}`` placeholders of ``template`` from ``values``.

    Raises:
        ValueError: For a placeholder missing from ``values``, naming it and ``where``.

    Example:
        >>> fill_template('Say hi in {lang}. Answer as {"greeting": "..."}; {{lang}}',
        ...               {"lang": "Italian"})
        'Say hi in Italian. Answer as {"greeting": "..."}; {lang}'
    """

    def replace(match: re.Match[str]) -> str:
        text = match.group(0)
        if text == "{{":
            return "{"
        if text == "}}":
            return "}"
        name = match.group(1)
        if name not in values:
            raise ValueError(
                f"The placeholder {{{name}}} in {where} has no value: `inputs` has "
                f"{sorted(values)!r}. Add {name!r} to `inputs`, or write {{{{{name}}}}} for "
                "literal braces."
            )
        return values[name]

    return _TEMPLATE.sub(replace, template)


@dataclass
class _Input:
    """One ``inputs`` entry: how to read its value for sample ``i``."""

    name: str
    value: Any
    length: int | None  # None: shared by every sample

    def at(self, i: int) -> str:
        v = self.value
        if isinstance(v, Variable):
            return as_text(v.data[i] if self.length is not None else v.data)
        if isinstance(v, list):
            item = v[i]
            return as_text(item.data if isinstance(item, Variable) else item)
        return as_text(v)

    def variable_at(self, i: int) -> Variable | None:
        if isinstance(self.value, Variable):
            return self.value
        if isinstance(self.value, list) and isinstance(self.value[i], Variable):
            return self.value[i]
        return None


def check_inputs(inputs: Any, argname: str = "inputs") -> list[_Input]:
    """Validates ``inputs`` (``{name: str | number | Variable | list}``) and describes them.

    Raises:
        TypeError: For a non-dict, a non-str key, or a value of an unsupported type.
        ValueError: For an empty list.
    """
    if inputs is None:
        return []
    if not isinstance(inputs, dict):
        raise TypeError(f"`{argname}` must be a dict or None, but got {type(inputs).__name__}.")
    out = []
    for name, value in inputs.items():
        if not isinstance(name, str):
            raise TypeError(f"The keys of `{argname}` must be str, but got {name!r}.")
        if isinstance(value, Variable):
            length = len(value.data) if isinstance(value.data, list) else None
        elif isinstance(value, (str, int, float)):
            length = None
        elif isinstance(value, list):
            if all(isinstance(v, Variable) for v in value):
                nested = [v.role for v in value if isinstance(v.data, list)]
                if nested:
                    raise TypeError(
                        f"`{argname}[{name!r}]` is a list of Variables, so each must hold one "
                        f"value, but some hold lists (roles {nested!r})."
                    )
            elif not all(isinstance(v, (str, int, float)) for v in value):
                kinds = sorted({type(v).__name__ for v in value})
                raise TypeError(
                    f"`{argname}[{name!r}]` must be a list of str (or of Variables), but holds "
                    f"{kinds}."
                )
            length = len(value)
        else:
            raise TypeError(
                f"`{argname}[{name!r}]` must be a str, a number, a Variable or a list, but got "
                f"{type(value).__name__}: {value!r:.80}."
            )
        if length == 0:
            raise ValueError(f"`{argname}[{name!r}]` is an empty batch.")
        out.append(_Input(name, value, length))
    return out


def batch_size(
    messages: Sequence[dict[str, Any]], inputs: Sequence[_Input], extra: dict[str, int | None]
) -> int | None:
    """The common length of every batched value, or ``None`` when nothing is batched.

    Raises:
        ValueError: If batched values have different lengths, naming each of them.
    """
    lengths: dict[str, int] = {}
    for mi, message in enumerate(messages):
        for ci, var in enumerate(message["content"]):
            if isinstance(var.data, list):
                lengths[f"messages[{mi}]['content'][{ci}] (role {var.role!r})"] = len(var.data)
    for item in inputs:
        if item.length is not None:
            lengths[f"inputs[{item.name!r}]"] = item.length
    lengths.update({k: v for k, v in extra.items() if v is not None})
    if not lengths:
        return None
    if len(set(lengths.values())) > 1:
        described = ", ".join(f"{k} has {v}" for k, v in lengths.items())
        raise ValueError(
            f"Batched values must all have the same length, but {described}. Give lists of one "
            "length, or scalars (shared by every sample)."
        )
    return next(iter(lengths.values()))


def render_messages(
    messages: Sequence[dict[str, Any]], values: dict[str, str], i: int | None
) -> list[dict[str, str]]:
    """The OpenAI messages of sample ``i`` (``None``: unbatched), placeholders filled."""
    rendered = []
    for mi, message in enumerate(messages):
        parts = []
        for ci, var in enumerate(message["content"]):
            data = var.data[i] if (i is not None and isinstance(var.data, list)) else var.data
            where = f"messages[{mi}]['content'][{ci}] (role {var.role!r})"
            parts.append(fill_template(as_text(data), values, where))
        rendered.append({"role": message["role"], "content": "\n\n".join(parts)})
    return rendered


# -- ChatCompletion --------------------------------------------------------------------------------


@dataclass
class _ChatState:
    n: int | None
    conversations: list[list[dict[str, str]]]
    responses: list[str]
    targets: list[_Target]


def check_client(client: Any, argname: str = "forward_model_client") -> None:
    if not isinstance(client, ChatCompletionModel):
        raise TypeError(
            f"`{argname}` must be a chat model client (afnio.models.ChatCompletionModel, e.g. "
            f"afnio.models.AsyncOpenAI()), but got {type(client).__name__}."
        )


class ChatCompletion(Function):
    """Calls a chat model on templated messages; differentiable with respect to every Variable
    in ``messages`` and ``inputs``.

    ``ChatCompletion.apply(forward_model_client, messages, inputs=None, **completion_args)``.
    See the module docstring for the template rule, batching, and how feedback is mapped to
    Variables in the backward pass.

    Args:
        forward_model_client: The chat model client, e.g. ``AsyncOpenAI()``.
        messages: ``[{"role": "system" | "user" | "assistant", "content": [Variable, ...]}]``.
        inputs: Values of the ``{placeholders}``: str, numbers, Variables, or lists (batches).
        **completion_args: Passed to the model (``model`` is required; ``temperature``,
            ``seed``, ``response_format``...).

    Returns:
        A Variable with role ``"response to the chat messages"``: the reply text, or a list of
        replies for a batch.

    Raises:
        TypeError: If the client, ``messages`` or ``inputs`` have the wrong types, or ``model``
            is missing.
        ValueError: For a placeholder without a value, or batched values of different lengths.
        RuntimeError: In backward, if no backward model client is set or its reply cannot be
            parsed after ``BACKWARD_PASS_MAX_RETRIES`` retries.

    Example:
        >>> import afnio
        >>> from afnio.autodiff.lm_ops import ChatCompletion
        >>> from afnio.models.openai import AsyncOpenAI
        >>> from afnio.testing import LocalServer, ScriptedModel
        >>> script = ScriptedModel()
        >>> _ = script.when(user="Italian").reply("Ciao")
        >>> _ = script.when(user="Spanish").reply("Hola")
        >>> with LocalServer(script) as server:
        ...     model = AsyncOpenAI(base_url=server.base_url, api_key=server.api_key)
        ...     system = afnio.Variable("Greet the user.", role="system prompt",
        ...                             requires_grad=True)
        ...     user = afnio.Variable("Say hello in {language}.", role="user query")
        ...     messages = [{"role": "system", "content": [system]},
        ...                 {"role": "user", "content": [user]}]
        ...     out = ChatCompletion.apply(model, messages,
        ...                                {"language": ["Italian", "Spanish"]}, model="gpt-4o")
        >>> out.data, out.role
        (['Ciao', 'Hola'], 'response to the chat messages')
    """

    @staticmethod
    async def forward(
        ctx: Any,
        forward_model_client: ChatCompletionModel,
        messages: list[dict[str, Any]],
        inputs: dict[str, Any] | None = None,
        **completion_args: Any,
    ) -> Variable:
        check_client(forward_model_client)
        _validate_multi_turn_messages(messages)
        described = check_inputs(inputs)
        if "model" not in completion_args:
            raise TypeError(
                "ChatCompletion needs the model name among the completion arguments, e.g. "
                "`model='gpt-4o'`."
            )
        completion_args = {
            k: (v.data if isinstance(v, Variable) else v) for k, v in completion_args.items()
        }
        n = batch_size(messages, described, {})
        indices: list[int | None] = list(range(n)) if n is not None else [None]
        conversations = [
            render_messages(messages, {item.name: item.at(i or 0) for item in described}, i)
            for i in indices
        ]

        async def call(i: int | None, conversation: list[dict[str, str]]) -> str:
            with sample_index(i):
                return await forward_model_client.achat(messages=conversation, **completion_args)

        responses = await gather_all([call(i, c) for i, c in zip(indices, conversations)])
        targets = collect_targets(messages, described, n)
        ctx.save_for_backward(_ChatState(n, conversations, [str(r) for r in responses], targets))
        return Variable(responses if n is not None else responses[0], role=CHAT_RESPONSE_ROLE)

    @staticmethod
    async def backward(ctx: Any, grad_output: Variable | None) -> tuple[Variable | None, ...]:
        (state,) = ctx.saved_variables
        feedback = per_sample_feedback(grad_output, state.n)
        jobs = []
        indices = []
        for i, objective in enumerate(feedback):
            pairs = [(t, t.samples[i]) for t in state.targets if i in t.samples]
            if not objective or not pairs:
                continue  # no feedback on this sample: nothing to ask
            indices.append(i)
            jobs.append(
                backward_feedback(
                    state.conversations[i],
                    state.responses[i],
                    CHAT_RESPONSE_ROLE,
                    objective,
                    pairs,
                    sample=i if state.n is not None else None,
                )
            )
        results = await gather_all(jobs)
        merged: dict[int, dict[int, str]] = {}
        for i, result in zip(indices, results):
            for key, text in result.items():
                merged.setdefault(key, {})[i] = text
        return gradients_for(ctx, state.targets, merged, state.n)
