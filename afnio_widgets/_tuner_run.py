"""One run of an agent's ``training_step`` on a batch, read as a table per example.

A run calls ``training_step`` on the whole batch, as the Trainer does; when that fails, every
example runs alone (concurrently), so that one failed model call does not hide the other rows.
The rows come from the evaluator's per-sample results and the graph's model-call records; the
gradients that ``backward()`` leaves on a parameter are split by the example they came from.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from afnio._variable import Variable
from afnio.lm import evaluation_samples, split_sample_feedback
from afnio.trainer import StepOutputError, parse_step_output
from afnio.utils.data.dataloader import default_collate
from afnio_widgets._graph import call_to_dict, json_safe

__all__ = [
    "MAX_WORKERS",
    "StepPart",
    "as_text",
    "attribute_gradient",
    "graph_calls",
    "mean_metrics",
    "rows_of",
    "run_step",
]

MAX_WORKERS = 8
"""At most this many examples run at once when a failed batch is re-run example by example."""


def as_text(value: Any) -> str:
    """Any value as text for a table cell: Variables as their data, strings as they are.

    Example:
        >>> as_text(Variable("Paris")), as_text([1, "a"])
        ('Paris', '[1, "a"]')
    """
    value = value.data if isinstance(value, Variable) else value
    if isinstance(value, str):
        return value
    safe, _ = json_safe(value)
    return json.dumps(safe, ensure_ascii=False)


def _number(value: Any) -> float | None:
    value = value.data if isinstance(value, Variable) else value
    if isinstance(value, bool):
        return float(value)
    if isinstance(value, (int, float)) and math.isfinite(value):
        return float(value)
    return None


def _input_of(sample: Any) -> Any:
    """What a table shows as an example's input: a tuple's first field, a dict's first value."""
    if isinstance(sample, tuple) and sample:
        return sample[0]
    if isinstance(sample, Mapping) and sample:
        return next(iter(sample.values()))
    return sample


def graph_calls(root: Variable, phase: str) -> list[Any]:
    """The model-call records of ``phase`` made by the nodes of ``root``'s graph, in order."""
    records: list[Any] = []
    seen: set[int] = set()
    stack = [root.grad_fn] if root.grad_fn is not None else []
    while stack:
        node = stack.pop()
        if id(node) in seen:
            continue
        seen.add(id(node))
        records.extend(r for r in node.calls if getattr(r, "phase", None) == phase)
        stack.extend(edge.node for edge in node.next_functions if edge.node is not None)
    return sorted(records, key=lambda r: getattr(r, "id", 0))


@dataclass
class StepPart:
    """One ``training_step`` call: on the whole batch, or on one example run alone."""

    indices: list[int]
    """The batch's examples it ran on."""
    metrics: dict[str, float] = field(default_factory=dict)
    explanation: Variable | None = None
    error: str | None = None
    """afnio's error (``"ModelCallError: ..."``) when the step failed."""


def _step_part(step: Callable[[Any, int], Any], indices: list[int], batch: Any) -> StepPart:
    part = StepPart(indices)
    try:
        parsed = parse_step_output(step(batch, 0), "training_step")
    except StepOutputError:
        raise
    except Exception as exc:  # a model or agent error: shown in the example's row
        part.error = f"{type(exc).__name__}: {exc}"
        return part
    if parsed is None:
        part.error = "training_step() returned None: the batch is skipped."
    else:
        part.metrics, part.explanation = parsed
    return part


def run_step(step: Callable[[Any, int], Any], batch: Any, samples: list[Any]) -> list[StepPart]:
    """Runs ``step(batch, 0)``; if it fails, ``step`` on each example alone, concurrently.

    Args:
        step: The agent's ``training_step``.
        batch: The batch.
        samples: Its examples (:func:`afnio.utils.data.dataloader.uncollate`).

    Raises:
        StepOutputError: If the step returns something the Trainer could not use either.
    """
    whole = _step_part(step, list(range(len(samples))), batch)
    if whole.error is None or len(samples) == 1:
        return [whole]
    with ThreadPoolExecutor(min(MAX_WORKERS, len(samples))) as pool:
        return list(
            pool.map(
                lambda i: _step_part(step, [i], default_collate([samples[i]])),
                range(len(samples)),
            )
        )


def rows_of(samples: Sequence[Any], parts: Sequence[StepPart]) -> list[dict[str, Any]]:
    """One row per example: ``{"index", "input", "output", "target", "score", "explanation",
    "error", "calls"}`` (``calls``: its forward model calls, as dicts)."""
    rows: list[dict[str, Any]] = [
        {
            "index": i,
            "input": as_text(_input_of(sample)),
            "output": None,
            "target": None,
            "score": None,
            "explanation": None,
            "error": None,
            "calls": [],
        }
        for i, sample in enumerate(samples)
    ]
    for part in parts:
        if part.explanation is None:
            for i in part.indices:
                rows[i]["error"] = part.error
            continue
        found = evaluation_samples(part.explanation) or []
        for k, i in enumerate(part.indices):
            if k < len(found):
                item = found[k]
                rows[i].update(
                    output=as_text(item.prediction),
                    target=as_text(item.target),
                    score=_number(item.score),
                    explanation=item.explanation,
                )
            elif len(part.indices) == 1:
                rows[i]["explanation"] = as_text(part.explanation)
        for record in graph_calls(part.explanation, "forward"):
            sample = getattr(record, "sample", None)
            if sample is not None and sample < len(part.indices):
                rows[part.indices[sample]]["calls"].append(call_to_dict(record))
            elif len(part.indices) == 1:
                rows[part.indices[0]]["calls"].append(call_to_dict(record))
    return rows


def mean_metrics(parts: Sequence[StepPart]) -> dict[str, float]:
    """The metrics of one part, or each metric's mean over the parts that reported it.

    Example:
        >>> mean_metrics([StepPart([0], {"accuracy": 1.0}), StepPart([1], {"accuracy": 0.0})])
        {'accuracy': 0.5}
    """
    if len(parts) == 1:
        return dict(parts[0].metrics)
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    for part in parts:
        for name, value in part.metrics.items():
            sums[name] = sums.get(name, 0.0) + value
            counts[name] = counts.get(name, 0) + 1
    return {name: sums[name] / counts[name] for name in sums}


def attribute_gradient(grad: Variable, indices: list[int]) -> list[dict[str, Any]]:
    """A gradient's pieces, ``{"example", "text", "role"}``, with the batch example each came
    from (``None``: the whole batch). ``indices`` are the examples of the step that made it.

    Example:
        >>> g = Variable("Feedback from sample 2 of 2:\\nBe brief.", role="feedback to prompt")
        >>> attribute_gradient(g, [3, 5])
        [{'example': 5, 'text': 'Be brief.', 'role': 'feedback to prompt'}]
    """
    data = grad.data
    pieces: list[tuple[int | None, str]]
    if isinstance(data, list):
        pieces = [(k, as_text(item)) for k, item in enumerate(data) if as_text(item)]
    else:
        pieces = split_sample_feedback(as_text(data))
    out = []
    for k, text in pieces:
        if k is not None and k < len(indices):
            example: int | None = indices[k]
        elif len(indices) == 1:
            example = indices[0]
        else:
            example = None
        if text.strip():
            out.append({"example": example, "text": text, "role": grad.role or ""})
    return out
