""":class:`ChatCompletion`: a differentiable call to a chat model.

Templates and batches follow :mod:`afnio.lm.templates`: ``{name}`` placeholders are filled from
``inputs``; a list input (or list data) makes the call batched, one model call per sample, all
sent concurrently, and the output then holds a list.

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

from dataclasses import dataclass
from typing import Any

from afnio._utils import validate_multi_turn_messages
from afnio._variable import Variable
from afnio.autodiff.function import Function, FunctionCtx
from afnio.lm.feedback import (
    GradientTarget,
    backward_feedback,
    collect_targets,
    gather_all,
    gradients_for,
    per_sample_feedback,
    split_sample_feedback,
)
from afnio.lm.templates import batch_size, check_client, check_inputs, render_messages
from afnio.models.model import ChatCompletionModel
from afnio.models.records import sample_index

__all__ = ["CHAT_RESPONSE_ROLE", "ChatCompletion", "split_sample_feedback"]

CHAT_RESPONSE_ROLE = "response to the chat messages"
"""The role of a :class:`ChatCompletion` output."""

# -- ChatCompletion --------------------------------------------------------------------------------


@dataclass
class _ChatState:
    n: int | None
    conversations: list[list[dict[str, str]]]
    responses: list[str]
    targets: list[GradientTarget]


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
        >>> from afnio.lm import ChatCompletion
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
        ctx: FunctionCtx,
        forward_model_client: ChatCompletionModel,
        messages: list[dict[str, Any]],
        inputs: dict[str, Any] | None = None,
        **completion_args: Any,
    ) -> Variable:
        check_client(forward_model_client)
        validate_multi_turn_messages(messages)
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
    async def backward(
        ctx: FunctionCtx, grad_output: Variable | None
    ) -> tuple[Variable | None, ...]:
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
