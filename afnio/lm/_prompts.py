"""The prompts of afnio's language-model backward passes, in one place.

A backward call shows the backward model everything the forward step saw and produced, in full
(values are never truncated), and asks for feedback on every variable at once, as one JSON object
with one named field per variable (structured output). The same system prompt serves the chat
completion, the LM judge and the deterministic evaluators; the user prompt differs only in how
the objective is stated.

Sections of a user prompt use XML-like tags, each on its own line, so that multi-line values stay
unambiguous: ``<CONVERSATION>`` (with one ``<MESSAGE role="...">`` per message), ``<RESPONSE>``,
``<FEEDBACK>`` or ``<EVALUATION>``, and one ``<VARIABLE name="..." role="...">`` per variable.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

__all__ = [
    "BACKWARD_SYSTEM_PROMPT",
    "FeedbackTarget",
    "chat_backward_messages",
    "evaluator_backward_messages",
    "feedback_response_format",
    "judge_response_format",
    "render_conversation",
    "repair_message",
]

BACKWARD_SYSTEM_PROMPT = """\
You are the feedback engine of an optimization system that improves pieces of text, called \
variables, used by language-model programs (prompts, instructions, templates, inputs, answers).

You are shown one step of such a program: what went in, what came out, and an objective for \
that output (feedback from further down the program, or an evaluation of it). For each variable \
you are asked about, write feedback that says how that variable should change so that the output \
would better meet the objective.

Rules:
- Be concrete and critical: point at the parts of the variable that caused the problem and say \
what is wrong with them and in which direction they should change.
- Respect each variable's role: feedback to a system prompt is about instructions; feedback to \
an input value is about that value.
- Do not write a new version of the variable and do not quote a rewritten one; describe the \
changes. Another component will do the rewriting.
- Feedback for one variable must stand on its own; do not refer to the other fields.
- A variable can contain {placeholders}: they are filled with other values when the program \
runs. Keep them; comment on the text around them.
- If a variable is fine as it is, or cannot influence the problem, answer with an empty string \
for it. Do not invent problems.

Answer with a single JSON object that has exactly the keys you are asked for, one string of \
feedback per key, and nothing else."""


@dataclass(frozen=True)
class FeedbackTarget:
    """A variable the backward model must give feedback to.

    Attributes:
        name: The JSON key of its feedback (``"feedback_1"``...).
        role: The variable's role, e.g. ``"system prompt"``.
        value: Its full value as used in this step (for a template, the template itself).
        where: Where it was used, completing "It was used ...", e.g.
            ``"in the system message (message 1)"``.
    """

    name: str
    role: str
    value: str
    where: str


def render_conversation(messages: Sequence[dict[str, Any]]) -> str:
    """Returns the chat ``messages`` as a ``<CONVERSATION>`` block (full texts).

    Example:
        >>> print(render_conversation([{"role": "user", "content": "Hi"}]))
        <CONVERSATION>
        <MESSAGE role="user">
        Hi
        </MESSAGE>
        </CONVERSATION>
    """
    lines = ["<CONVERSATION>"]
    for message in messages:
        lines.append(f'<MESSAGE role="{message.get("role", "")}">')
        lines.append(str(message.get("content", "")))
        lines.append("</MESSAGE>")
    lines.append("</CONVERSATION>")
    return "\n".join(lines)


def _render_targets(targets: Sequence[FeedbackTarget]) -> str:
    blocks = []
    for target in targets:
        blocks.append(
            f'<VARIABLE name="{target.name}" role="{target.role}">\n'
            f"{target.value}\n"
            f"</VARIABLE>\n"
            f"It was used {target.where}."
        )
    return "\n\n".join(blocks)


def _keys_instruction(targets: Sequence[FeedbackTarget]) -> str:
    keys = ", ".join(json.dumps(t.name) for t in targets)
    return (
        f"Answer with a JSON object with exactly these keys: {keys}. Each value is your feedback "
        "to that variable, or an empty string if it needs no change."
    )


def chat_backward_messages(
    conversation: Sequence[dict[str, Any]],
    response: str,
    response_role: str,
    objective: str,
    targets: Sequence[FeedbackTarget],
    evaluation: bool = False,
) -> list[dict[str, str]]:
    """Builds the backward messages for one sample of a chat completion (or LM judge) step.

    Args:
        conversation: The messages the model received, as rendered (placeholders filled).
        response: What the model answered.
        response_role: What the response is, e.g. ``"response to the chat messages"``.
        objective: The feedback the response received from downstream, or (with
            ``evaluation=True``) the evaluation of the response.
        targets: The variables to give feedback to.
        evaluation: Whether ``objective`` is an evaluation result rather than feedback.

    Returns:
        A system message and a user message.
    """
    if evaluation:
        objective_block = (
            "The response was evaluated. Give feedback that would improve the evaluation result "
            "(and address any feedback it mentions):\n"
            f"<EVALUATION>\n{objective}\n</EVALUATION>"
        )
    else:
        objective_block = (
            "The response received this feedback; your feedback to the variables should address "
            f"it:\n<FEEDBACK>\n{objective}\n</FEEDBACK>"
        )
    user = (
        "Here is one call to a language model.\n\n"
        "The messages it received:\n"
        f"{render_conversation(conversation)}\n\n"
        f"Its response (the {response_role}):\n"
        f"<RESPONSE>\n{response}\n</RESPONSE>\n\n"
        f"{objective_block}\n\n"
        "Give feedback to each of these variables:\n\n"
        f"{_render_targets(targets)}\n\n"
        f"{_keys_instruction(targets)}"
    )
    return [
        {"role": "system", "content": BACKWARD_SYSTEM_PROMPT},
        {"role": "user", "content": user},
    ]


def evaluator_backward_messages(
    purpose: str,
    prediction_role: str,
    samples: Sequence[dict[str, Any]],
    explanation: str,
    downstream: str,
    targets: Sequence[FeedbackTarget],
) -> list[dict[str, str]]:
    """Builds the backward messages of a deterministic evaluator (one call for the batch).

    Args:
        purpose: What the evaluation function checks, e.g. ``"exact match"``.
        prediction_role: The role of the evaluated prediction.
        samples: One ``{"prediction", "target", "score"}`` dict per sample.
        explanation: The evaluator's explanation of its result.
        downstream: Feedback on the evaluation result itself (often empty).
        targets: One target per sample (the prediction of that sample).
    """
    rows = []
    for i, sample in enumerate(samples, start=1):
        rows.append(
            f'<SAMPLE index="{i}">\n'
            f"<PREDICTION>\n{sample['prediction']}\n</PREDICTION>\n"
            f"<TARGET>\n{sample['target']}\n</TARGET>\n"
            f"<SCORE>{sample['score']}</SCORE>\n"
            f"</SAMPLE>"
        )
    extra = (
        f"\n\nFeedback on this evaluation:\n<FEEDBACK>\n{downstream}\n</FEEDBACK>"
        if downstream
        else ""
    )
    user = (
        f"A deterministic evaluation function, designed for '{purpose}', compared each "
        f"{prediction_role} with its target.\n\n"
        + "\n\n".join(rows)
        + f"\n\nIts overall result:\n<EVALUATION>\n{explanation}\n</EVALUATION>{extra}\n\n"
        "Give feedback to each prediction so that its score would improve; a prediction that "
        "already meets its target needs none:\n\n"
        f"{_render_targets(targets)}\n\n"
        f"{_keys_instruction(targets)}"
    )
    return [
        {"role": "system", "content": BACKWARD_SYSTEM_PROMPT},
        {"role": "user", "content": user},
    ]


def feedback_response_format(targets: Sequence[FeedbackTarget]) -> dict[str, Any]:
    """The strict JSON-schema ``response_format`` asking for one string per target.

    Example:
        >>> t = FeedbackTarget("feedback_1", "system prompt", "Be brief.", "system message")
        >>> fmt = feedback_response_format([t])
        >>> fmt["type"], fmt["json_schema"]["schema"]["required"]
        ('json_schema', ['feedback_1'])
    """
    properties = {
        t.name: {"type": "string", "description": f"Feedback to the {t.role}."} for t in targets
    }
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "variable_feedback",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": properties,
                "required": [t.name for t in targets],
                "additionalProperties": False,
            },
        },
    }


def judge_response_format() -> dict[str, Any]:
    """The strict JSON-schema ``response_format`` of an LM judge: ``score`` and ``explanation``.

    ``score`` may be a number or a boolean, as the judge's instructions ask.
    """
    return {
        "type": "json_schema",
        "json_schema": {
            "name": "evaluation",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {
                    "score": {
                        "anyOf": [{"type": "number"}, {"type": "boolean"}],
                        "description": "The score, as the instructions define it.",
                    },
                    "explanation": {
                        "type": "string",
                        "description": "Why the response got this score.",
                    },
                },
                "required": ["score", "explanation"],
                "additionalProperties": False,
            },
        },
    }


def repair_message(reply: str, problem: str) -> list[dict[str, str]]:
    """The turns appended to a request whose reply could not be used, before asking again."""
    return [
        {"role": "assistant", "content": reply},
        {
            "role": "user",
            "content": (
                f"Your answer could not be used: {problem} Answer again with only the JSON "
                "object, with exactly the keys asked for."
            ),
        },
    ]
