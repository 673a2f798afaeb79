"""The prompt of the TGD optimizer: a system message and a user template, and their rendering.

The system message holds every instruction; the user message holds only data (the role, the
full current value, every piece of feedback, past iterations, constraints, examples), each in its
own tagged section. The model answers with structured output, a JSON object whose single field
holds the new value, so nothing of the prompt can end up in the value by accident.

Placeholders are written ``{name}``. Only known names are replaced (those below and the keys of
the optimizer's ``inputs``); any other text in braces is left as it is.

========================  ==================================================================
Placeholder               Replaced by
========================  ==================================================================
``{role}``                the parameter's role
``{value}``               its complete current value
``{feedback}``            every gradient, each in a ``<FEEDBACK>`` block
``{past_iterations}``     the momentum window (earlier values and their feedback), or nothing
``{constraints}``         the constraints section, or nothing
``{examples}``            the in-context examples section (``inputs["examples"]``), or nothing
========================  ==================================================================
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from afnio._variable import Variable

__all__ = [
    "BUILTIN_PLACEHOLDERS",
    "LEAK_MARKERS",
    "RESPONSE_FIELD",
    "RESPONSE_FORMAT",
    "TGD_SYSTEM_PROMPT",
    "TGD_USER_PROMPT",
    "default_messages",
    "fill",
    "render_constraints",
    "render_examples",
    "render_feedback",
    "render_past_iterations",
    "render_text",
    "retry_message",
]

RESPONSE_FIELD = "improved_variable"
"""The single field of the optimizer model's JSON answer."""

RESPONSE_FORMAT: dict[str, Any] = {
    "type": "json_schema",
    "json_schema": {
        "name": "improved_variable",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {
                RESPONSE_FIELD: {
                    "type": "string",
                    "description": "The complete new value of the variable, and nothing else.",
                }
            },
            "required": [RESPONSE_FIELD],
            "additionalProperties": False,
        },
    },
}
"""The ``response_format`` sent with every TGD request (OpenAI structured outputs)."""

TGD_SYSTEM_PROMPT = """\
You are the update step of an optimization system that improves a piece of text, called the \
variable, by textual gradient descent. You are given the variable's role, its complete current \
value, and feedback written about it by critics who saw how it performed. The feedback can be \
noisy, partial or contradictory: weigh it, and act on what is well founded.

Write a new value for the variable that addresses the feedback while still fulfilling the \
variable's role. Keep what already works and change what the feedback asks to change. Follow \
every constraint you are given. When past iterations are shown, learn from them: do not undo \
changes that helped, and do not repeat changes that did not.

The new value replaces the variable verbatim wherever the variable is used. It must therefore \
contain only the variable's new text: no explanation of your changes, no section tags of this \
conversation (such as <VARIABLE> or <FEEDBACK>), no notes addressed to the optimizer, and no \
quotes or code fences around it unless they are part of the variable itself.

Answer with a JSON object with exactly one field, "improved_variable", holding the complete new \
value as a string."""

TGD_USER_PROMPT = """\
Improve the variable that has this role:
<ROLE>{role}</ROLE>

This is its complete current value:
<VARIABLE>
{value}
</VARIABLE>

This is the feedback on the current value:
{feedback}
{past_iterations}{constraints}{examples}
Write the improved value of the variable ({role}), as the JSON object \
{"improved_variable": "..."}."""

BUILTIN_PLACEHOLDERS = frozenset(
    {"role", "value", "feedback", "past_iterations", "constraints", "examples"}
)
"""Placeholders that TGD fills itself (``examples`` may come from ``inputs``)."""

LEAK_MARKERS = (
    "<ROLE>",
    "</ROLE>",
    "<VARIABLE>",
    "</VARIABLE>",
    "<FEEDBACK",
    "</FEEDBACK>",
    "<PAST_ITERATIONS>",
    "<ITERATION",
    "<CONSTRAINTS>",
    "<EXAMPLES>",
    "<IMPROVED_VARIABLE>",
    '"improved_variable"',
)
"""Markup of this prompt that must never appear in a new value (unless it was in the old one)."""

_PLACEHOLDER = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def default_messages() -> list[dict[str, Any]]:
    """Returns fresh copies of TGD's default messages: a system and a user message.

    Example:
        >>> [m["role"] for m in default_messages()]
        ['system', 'user']
    """
    return [
        {
            "role": "system",
            "content": [
                Variable(TGD_SYSTEM_PROMPT, role="Textual Gradient Descent optimizer system prompt")
            ],
        },
        {
            "role": "user",
            "content": [
                Variable(TGD_USER_PROMPT, role="Textual Gradient Descent optimizer user prompt")
            ],
        },
    ]


def render_text(value: Any) -> str:
    """Renders data (a Variable's or a plain value) as text; lists become one item per line.

    Example:
        >>> render_text(["a", None, 3])
        'a\\n3'
    """
    if isinstance(value, Variable):
        value = value.data
    if value is None:
        return ""
    if isinstance(value, list):
        return "\n".join(text for text in (render_text(item) for item in value) if text)
    return str(value)


def fill(template: str, values: Mapping[str, str]) -> str:
    """Replaces each ``{name}`` whose name is in ``values``; leaves other braces alone.

    Example:
        >>> fill('{role}: {"json": 1} {unknown}', {"role": "prompt"})
        'prompt: {"json": 1} {unknown}'
    """
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), template)


def placeholders(template: str) -> set[str]:
    """The ``{name}`` placeholders in ``template``."""
    return set(_PLACEHOLDER.findall(template))


def render_feedback(gradients: Sequence[Variable]) -> str:
    """Renders every gradient in full, each in its own ``<FEEDBACK>`` block.

    Example:
        >>> print(render_feedback([Variable("Be shorter.", role="feedback to prompt")]))
        <FEEDBACK index="1" role="feedback to prompt">
        Be shorter.
        </FEEDBACK>
    """
    blocks = []
    for i, gradient in enumerate(gradients, start=1):
        role = f' role="{gradient.role}"' if gradient.role else ""
        blocks.append(f'<FEEDBACK index="{i}"{role}>\n{render_text(gradient)}\n</FEEDBACK>')
    return "\n".join(blocks)


def render_past_iterations(history: Sequence[tuple[Variable, Sequence[Variable]]]) -> str:
    """Renders the momentum window, oldest first: each earlier value and its feedback."""
    if not history:
        return ""
    items = []
    for i, (snapshot, gradients) in enumerate(history, start=1):
        feedback = "\n".join(
            f"<FEEDBACK>\n{render_text(g)}\n</FEEDBACK>" for g in gradients if render_text(g)
        )
        items.append(
            f'<ITERATION index="{i}">\n<VALUE>\n{render_text(snapshot)}\n</VALUE>\n'
            f"{feedback}\n</ITERATION>"
        )
    body = "\n".join(items)
    return (
        "\nEarlier values of the variable and the feedback each received, oldest first:\n"
        f"<PAST_ITERATIONS>\n{body}\n</PAST_ITERATIONS>\n"
    )


def render_constraints(constraints: Sequence[Any]) -> str:
    """Renders the constraints section (empty when there are none)."""
    lines = [render_text(c) for c in constraints]
    lines = [line for line in lines if line]
    if not lines:
        return ""
    body = "\n".join(f"{i}. {line}" for i, line in enumerate(lines, start=1))
    return (
        f"\nThe new value must follow these constraints:\n<CONSTRAINTS>\n{body}\n</CONSTRAINTS>\n"
    )


def render_examples(examples: Any) -> str:
    """Renders in-context examples of good values (empty when there are none)."""
    if isinstance(examples, Variable):
        examples = examples.data
    items = examples if isinstance(examples, list) else [examples]
    texts = [render_text(item) for item in items]
    texts = [text for text in texts if text]
    if not texts:
        return ""
    body = "\n".join(f"<EXAMPLE>\n{text}\n</EXAMPLE>" for text in texts)
    return (
        f"\nExamples of good values for variables like this one:\n<EXAMPLES>\n{body}\n</EXAMPLES>\n"
    )


def retry_message(reason: str) -> str:
    """The user message sent after a reply that could not be used."""
    return (
        f"That reply could not be used: {reason}. Answer again with only a JSON object of the "
        'form {"improved_variable": "<the complete new value>"}, where the value contains '
        "nothing but the variable's new text."
    )
