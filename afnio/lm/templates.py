"""Prompt templates, their inputs, and batches: what a language-model call is sent.

Templates. The content Variables of chat messages are templates: ``{name}``, where ``name`` is a
Python identifier, is replaced by ``inputs[name]``; ``{{`` and ``}}`` stand for literal braces.
Any other brace text (``{"a": 1}``, ``{ x }``, ``{0}``) is left as it is, so JSON examples in a
prompt need no escaping. An identifier placeholder without a value in ``inputs`` raises
``ValueError``. Input values are inserted verbatim (never themselves treated as templates). The
content Variables of one message are joined with a blank line.

Batches. An input that is a list (of strings, or of Variables), a Variable holding a list, or a
content Variable holding a list makes the call batched: one model call per sample. All batched
values must have the same length; scalars are shared by every sample.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from afnio._variable import Variable
from afnio.models.model import ChatCompletionModel

__all__ = [
    "PromptInput",
    "as_text",
    "batch_size",
    "check_client",
    "check_inputs",
    "fill_template",
    "render_messages",
]


def as_text(value: Any) -> str:
    """``value`` as prompt text (``None`` is empty)."""
    return "" if value is None else str(value)


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
class PromptInput:
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


def check_inputs(inputs: Any, argname: str = "inputs") -> list[PromptInput]:
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
        out.append(PromptInput(name, value, length))
    return out


def batch_size(
    messages: Sequence[dict[str, Any]], inputs: Sequence[PromptInput], extra: dict[str, int | None]
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


def check_client(client: Any, argname: str = "forward_model_client") -> None:
    if not isinstance(client, ChatCompletionModel):
        raise TypeError(
            f"`{argname}` must be a chat model client (afnio.models.ChatCompletionModel, e.g. "
            f"afnio.models.AsyncOpenAI()), but got {type(client).__name__}."
        )
