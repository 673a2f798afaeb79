"""Structured model calls: send, parse defensively (code fences, surrounding text), and on an
unusable reply ask again, showing the model its answer and the problem, up to
``BACKWARD_PASS_MAX_RETRIES`` times; then a clear error naming the node, the model and what was
expected. The record of the call that succeeded gets the parsed value.
"""

from __future__ import annotations

import json
import re
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from afnio._recording import current_owner, current_phase, current_recorder, recording_to
from afnio.autodiff.config import BACKWARD_PASS_MAX_RETRIES
from afnio.lm._prompts import repair_message
from afnio.models import caller_parses_replies

__all__ = [
    "UnusableReply",
    "feedback_parser",
    "parse_json_object",
    "parse_verdict",
    "structured_call",
]


class UnusableReply(Exception):
    """A model reply that cannot be used; ``count_mismatch`` when fields are missing."""

    def __init__(self, problem: str, count_mismatch: bool = False) -> None:
        super().__init__(problem)
        self.count_mismatch = count_mismatch


def parse_json_object(reply: str) -> dict[str, Any]:
    """Parses a JSON object from a model reply, tolerating code fences and surrounding text.

    Raises:
        UnusableReply: If no JSON object can be read.
    """
    text = reply.strip()
    fenced = re.match(r"^```[A-Za-z]*\s*(.*?)\s*```$", text, re.DOTALL)
    if fenced:
        text = fenced.group(1)
    candidates = [text]
    start, end = text.find("{"), text.rfind("}")
    if 0 <= start < end:
        candidates.append(text[start : end + 1])
    for candidate in candidates:
        try:
            value = json.loads(candidate)
        except ValueError:
            continue
        if isinstance(value, dict):
            return value
        raise UnusableReply(f"the reply is JSON but not an object (got {type(value).__name__}).")
    raise UnusableReply("the reply is not valid JSON.")


def feedback_parser(names: Sequence[str]) -> Callable[[str], dict[str, str]]:
    """Returns a parser of a feedback reply: one string per name in ``names``."""

    def parse(reply: str) -> dict[str, str]:
        obj = parse_json_object(reply)
        missing = [name for name in names if name not in obj]
        if missing and len(names) == 1 and len(obj) == 1:
            obj = {names[0]: next(iter(obj.values()))}
            missing = []
        if missing:
            raise UnusableReply(
                f"expected {len(names)} feedback field(s) {list(names)!r}, got {len(obj)} "
                f"({sorted(obj)!r}); missing {missing!r}.",
                count_mismatch=len(obj) != len(names),
            )
        return {name: _feedback_text(obj[name]) for name in names}

    return parse


def _feedback_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value.strip()
    return json.dumps(value)


class _CallCapture:
    """Forwards model-call records to the recorder in effect and keeps them (to set ``parsed``)."""

    def __init__(self) -> None:
        self.outer = current_recorder()
        self.owner = current_owner()
        self.records: list[Any] = []

    def name(self) -> str | None:
        name = getattr(self.owner, "name", None)
        return name() if callable(name) else None

    def record(self, record: Any) -> None:
        self.records.append(record)
        if self.outer is not None:
            self.outer(record)


async def structured_call(
    send: Callable[[list[dict[str, Any]]], Awaitable[str]],
    messages: list[dict[str, Any]],
    parse: Callable[[str], Any],
    expected: str,
    model: str | None,
) -> Any:
    """Sends ``messages`` and parses the reply, asking again (with the problem explained) up to
    ``BACKWARD_PASS_MAX_RETRIES`` times.

    Raises:
        RuntimeError: If no reply could be parsed, naming the node, the model and ``expected``.
        ValueError: If the last reply was JSON with the wrong number of fields.
    """
    conversation = list(messages)
    attempts = BACKWARD_PASS_MAX_RETRIES + 1
    problem: UnusableReply | None = None
    reply = ""
    capture = _CallCapture()
    for _ in range(attempts):
        with recording_to(capture.record, current_phase()), caller_parses_replies():
            reply = await send(conversation)
        try:
            parsed = parse(reply)
        except UnusableReply as exc:
            problem = exc
            conversation = [*messages, *repair_message(reply, str(exc))]
            continue
        if capture.records:
            capture.records[-1].parsed = parsed
        return parsed
    assert problem is not None
    node = capture.name() or "a model call outside the graph"
    message = (
        f"{node}: the reply of model {model!r} could not be used after {attempts} attempts; "
        f"expected {expected}. Last problem: {problem} Last reply: {reply!r:.300}"
    )
    if problem.count_mismatch:
        raise ValueError(message)
    raise RuntimeError(message)


def parse_verdict(reply: str) -> dict[str, Any]:
    """Parses an LM judge's reply: ``{"score": number | bool, "explanation": str}``."""
    obj = parse_json_object(reply)
    missing = [key for key in ("score", "explanation") if key not in obj]
    if missing:
        raise UnusableReply(f"expected the keys 'score' and 'explanation', missing {missing!r}.")
    score = obj["score"]
    if isinstance(score, str):
        lowered = score.strip().lower()
        if lowered in ("true", "false"):
            score = lowered == "true"
        else:
            try:
                score = float(lowered) if "." in lowered else int(lowered)
            except ValueError:
                raise UnusableReply(f"'score' must be a number or a bool, got {score!r}.") from None
    if not isinstance(score, (bool, int, float)):
        raise UnusableReply(f"'score' must be a number or a bool, got {score!r}.")
    explanation = obj["explanation"]
    return {"score": score, "explanation": "" if explanation is None else str(explanation)}
