"""Step outputs, running means of metrics, and cost read from model clients' usage."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from afnio._variable import Variable

__all__ = ["CostMeter", "RunningMeans", "StepOutputError", "parse_step_output"]


class StepOutputError(ValueError):
    """A step returned something the Trainer cannot use (a programming error: not retried)."""


class _StepTypeError(StepOutputError, TypeError):
    pass


def _number(name: str, value: Any) -> float:
    """A metric as a float: numbers and bools as is, a list of numbers as its mean."""
    if isinstance(value, Variable):
        value = value.data
    if isinstance(value, (bool, int, float)):
        return float(value)
    if isinstance(value, list) and value and all(isinstance(v, (bool, int, float)) for v in value):
        return sum(float(v) for v in value) / len(value)
    raise _StepTypeError(
        f"Metric {name!r} must be a number (or a list of numbers, averaged), but got "
        f"{type(value).__name__}: {value!r:.80}."
    )


def parse_step_output(output: Any, step: str) -> tuple[dict[str, float], Variable] | None:
    """Turns what a ``*_step`` returned into ``(metrics, explanation)``; ``None`` skips the batch.

    ``metrics["loss"]`` is the score's data; other dict entries are extra metrics. The
    :class:`~afnio.trainer.Trainer` reads every step this way; tools that run a step themselves
    use it to read the step exactly as the Trainer would.

    Raises:
        StepOutputError: (a ``ValueError``; a ``TypeError`` too for wrong types) naming ``step``.

    Example:
        >>> from afnio import Variable
        >>> from afnio.trainer import parse_step_output
        >>> score, why = Variable(1, role="score"), Variable("One right.", role="explanation")
        >>> metrics, explanation = parse_step_output({"loss": (score, why), "accuracy": [1, 0]},
        ...                                          "training_step")
        >>> metrics, explanation.data
        ({'loss': 1.0, 'accuracy': 0.5}, 'One right.')
    """
    if output is None:
        return None
    if isinstance(output, Mapping):
        if "loss" not in output:
            raise StepOutputError(
                f"{step}() returned a dict without a 'loss' key; put the (score, explanation) "
                "tuple of Variables under 'loss'."
            )
        entries = dict(output)
    elif isinstance(output, (tuple, list)) and len(output) == 2:
        entries = {"loss": tuple(output)}
    else:
        raise StepOutputError(
            f"{step}() must return either a tuple of Variables (score, explanation) or a dict "
            "with 'loss' key containing a tuple of Variables (score, explanation), or None to "
            f"skip the batch, but got {type(output).__name__}."
        )
    loss = entries["loss"]
    if not isinstance(loss, (tuple, list)) or len(loss) != 2:
        raise StepOutputError(
            f"The 'loss' returned by {step}() must be a tuple (score, explanation), but got "
            f"{type(loss).__name__}."
        )
    score, explanation = loss
    if not isinstance(score, Variable) or not isinstance(explanation, Variable):
        raise _StepTypeError(
            "Both score and explanation must be afnio.Variable, but got "
            f"{type(score).__name__} and {type(explanation).__name__} from {step}()."
        )
    metrics = {"loss": _number("loss", score)}
    for name, value in entries.items():
        if name != "loss":
            metrics[str(name)] = _number(str(name), value)
    return metrics, explanation


class RunningMeans:
    """Per-metric means over the batches that reported the metric."""

    def __init__(self) -> None:
        self.sums: dict[str, float] = {}
        self.counts: dict[str, int] = {}

    def add(self, metrics: Mapping[str, float]) -> None:
        for name, value in metrics.items():
            self.sums[name] = self.sums.get(name, 0.0) + value
            self.counts[name] = self.counts.get(name, 0) + 1

    def means(self) -> dict[str, float]:
        """``loss`` first, then the other metrics sorted by name."""
        names = sorted(self.sums, key=lambda name: (name != "loss", name))
        return {name: self.sums[name] / self.counts[name] for name in names}

    def state(self) -> dict[str, Any]:
        return {"sums": dict(self.sums), "counts": dict(self.counts)}

    @classmethod
    def from_state(cls, state: Mapping[str, Any]) -> RunningMeans:
        means = cls()
        means.sums = dict(state.get("sums", {}))
        means.counts = dict(state.get("counts", {}))
        return means


def _cost_of(client: Any) -> float:
    cost = client.get_usage().get("cost", {})
    amount = cost.get("amount") if isinstance(cost, Mapping) else None
    return float(amount) if isinstance(amount, (int, float)) else 0.0


class CostMeter:
    """Reads the cost of model calls as the growth of clients' usage (never clearing it).

    Each distinct client counts once: the same object passed twice, or the backward model
    client together with the client it wraps.
    """

    def __init__(self, clients: Iterable[Any] | None) -> None:
        if clients is None:
            clients = []
        if isinstance(clients, (str, bytes)) or not isinstance(clients, Iterable):
            raise TypeError(
                "`llm_clients` must be a list of model clients (objects with get_usage()), but "
                f"got {type(clients).__name__}."
            )
        unique: dict[int, Any] = {}
        for client in clients:
            if not callable(getattr(client, "get_usage", None)):
                raise TypeError(
                    "Every entry of `llm_clients` must be a model client with get_usage(), but "
                    f"got {type(client).__name__}."
                )
            inner = getattr(client, "_client", None)
            key = id(inner) if callable(getattr(inner, "get_usage", None)) else id(client)
            unique.setdefault(key, client)
        self.clients = list(unique.values())
        self._base = self._read()

    def _read(self) -> float:
        return sum(_cost_of(client) for client in self.clients)

    def reset(self) -> None:
        """Starts measuring from now."""
        self._base = self._read()

    def spent(self) -> float:
        """USD spent since the last :meth:`reset` (or construction)."""
        return max(0.0, self._read() - self._base)
