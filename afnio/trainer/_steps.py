"""Running one batch: batch sizes, the training step with its retries, evaluation retries."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Mapping
from typing import Any

from afnio._variable import Variable
from afnio.cognitive.modules.module import Module
from afnio.optim.optimizer import Optimizer
from afnio.trainer._metrics import StepOutputError, parse_step_output
from afnio.trainer.callbacks import ParameterChange

__all__ = ["STEP_MAX_RETRIES", "get_batch_size", "retry", "run_training_step"]

logger = logging.getLogger("afnio.trainer")

STEP_MAX_RETRIES = 3
"""How many times a batch's step is attempted before the Trainer gives up."""


def get_batch_size(batch: Any) -> int:
    """The number of samples in ``batch`` (as produced by a DataLoader).

    A dict counts its first value; a tuple its first element (collated columns); a list its
    length; a Variable its data's length (1 for scalar data); anything else counts 1.

    Raises:
        ValueError: If the batch is empty.

    Example:
        >>> from afnio import Variable
        >>> get_batch_size((Variable(["a", "b", "c"]), 1))
        3
        >>> get_batch_size({"text": ["a", "b"], "label": [0, 1]})
        2
    """
    if isinstance(batch, Mapping):
        if not batch:
            raise ValueError("Batch is empty (size 0), which is not allowed.")
        size = get_batch_size(next(iter(batch.values())))
    elif isinstance(batch, tuple):
        if not batch:
            raise ValueError("Batch is empty (size 0), which is not allowed.")
        size = get_batch_size(batch[0])
    elif isinstance(batch, list):
        size = len(batch)
    elif isinstance(batch, Variable):
        size = len(batch.data) if isinstance(batch.data, list) else 1
    else:
        size = 1
    if size == 0:
        raise ValueError("Batch is empty (size 0), which is not allowed.")
    return size


def _restore(agent: Module, before: Mapping[str, Any]) -> None:
    """Puts the parameters' data back as they were before a failed attempt."""
    for name, param in agent.named_parameters():
        if name in before and param.data != before[name]:
            param.data = copy.deepcopy(before[name])


def run_training_step(
    agent: Module, optimizers: list[Optimizer], batch: Any, batch_idx: int
) -> tuple[dict[str, float] | None, list[ParameterChange]]:
    """Runs one training batch (with retries) and returns ``(metrics, changes)``.

    ``metrics`` is ``None`` when ``training_step`` returned ``None`` (the batch is skipped);
    ``changes`` lists the parameters whose data changed.

    Raises:
        StepOutputError: At once, if the step returns something unusable.
        RuntimeError: After :data:`STEP_MAX_RETRIES` failed attempts.
    """
    automatic = agent.automatic_optimization
    before = {name: copy.deepcopy(p.data) for name, p in agent.named_parameters()}
    in_forward = True
    error: Exception | None = None
    parsed: tuple[dict[str, float], Variable] | None = None
    for attempt in range(1, STEP_MAX_RETRIES + 1):
        in_forward = True
        try:
            if automatic:
                for optimizer in optimizers:
                    optimizer.clear_grad()
            output = agent.training_step(batch, batch_idx)
            in_forward = False
            parsed = parse_step_output(output, "training_step")
            if parsed is not None and automatic:
                explanation = parsed[1]
                if not explanation.requires_grad:
                    raise StepOutputError(
                        "The explanation returned by training_step() does not require grad: no "
                        "parameter that requires grad led to it, so there is nothing to "
                        "optimize. Check that the agent's parameters are used in the step."
                    )
                explanation.backward()
                for optimizer in optimizers:
                    optimizer.step()
            break
        except StepOutputError:
            raise
        except Exception as exc:
            error = exc
            _restore(agent, before)
            logger.warning(
                "training_step() failed on batch %d (attempt %d of %d): %s: %s",
                batch_idx,
                attempt,
                STEP_MAX_RETRIES,
                type(exc).__name__,
                exc,
            )
    else:
        if automatic and in_forward:
            raise RuntimeError(
                f"Forward pass in training_step() failed after {STEP_MAX_RETRIES} retries: {error}"
            ) from error
        raise RuntimeError(
            f"training_step() failed after {STEP_MAX_RETRIES} retries: {error}"
        ) from error
    if parsed is None:
        return None, []
    changes = [
        ParameterChange(name, before[name], copy.deepcopy(p.data))
        for name, p in agent.named_parameters()
        if name in before and p.data != before[name]
    ]
    return parsed[0], changes


def retry(step: Callable[[], Any], name: str) -> Any:
    """Calls ``step`` up to :data:`STEP_MAX_RETRIES` times; returns its first result.

    Raises:
        RuntimeError: ``"{name}() failed after 3 retries: {last error}"``.
    """
    error: Exception | None = None
    for attempt in range(1, STEP_MAX_RETRIES + 1):
        try:
            return step()
        except Exception as exc:
            error = exc
            logger.warning(
                "%s() failed (attempt %d of %d): %s: %s",
                name,
                attempt,
                STEP_MAX_RETRIES,
                type(exc).__name__,
                exc,
            )
    raise RuntimeError(f"{name}() failed after {STEP_MAX_RETRIES} retries: {error}") from error
