"""The :class:`TrainingView` widget: a Trainer callback that charts a training run live."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Mapping
from typing import Any

import anywidget
import traitlets

from afnio.autodiff.graph import GraphEvent, register_graph_observer
from afnio_widgets._assets import bundle
from afnio_widgets._graph import call_to_dict, json_safe
from afnio_widgets._live import Throttle

__all__ = ["TrainingState", "TrainingView"]

FORMAT = "afnio-training"


def _number(value: Any) -> float | None:
    """A metric as a float (Variables and one-item containers unwrapped), or ``None``."""
    data = getattr(value, "data", value)
    if isinstance(data, (list, tuple)) and len(data) == 1:
        data = data[0]
    if isinstance(data, bool):
        return float(data)
    if isinstance(data, (int, float)) and math.isfinite(data):
        return float(data)
    return None


def metrics_to_dict(metrics: Any) -> dict[str, float]:
    """The numeric entries of a metrics mapping (others are left out).

    Example:
        >>> metrics_to_dict({"loss": 0.5, "accuracy": 1, "note": "x"})
        {'loss': 0.5, 'accuracy': 1.0}
    """
    if not isinstance(metrics, Mapping):
        value = _number(metrics)
        return {} if value is None else {"value": value}
    out = {}
    for key, value in metrics.items():
        number = _number(value)
        if number is not None:
            out[str(key)] = number
    return out


def _usage_of(call: dict[str, Any]) -> tuple[dict[str, int], float, str | None]:
    usage = call.get("usage") or {}
    tokens = {}
    for key in ("prompt_tokens", "completion_tokens", "total_tokens"):
        value = usage.get(key) if isinstance(usage, dict) else None
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            tokens[key] = int(value)
    cost = call.get("cost")
    if cost is None and isinstance(usage, dict):
        cost = usage.get("cost")
    currency = None
    if isinstance(cost, dict):
        currency = cost.get("currency")
        cost = cost.get("amount")
    amount = float(cost) if isinstance(cost, (int, float)) and not isinstance(cost, bool) else 0.0
    return tokens, amount, currency


class TrainingState:
    """What a training view shows, with the changes not yet sent (thread-safe).

    Example:
        >>> state = TrainingState()
        >>> state.log_step({"loss": 0.5}, epoch=0, batch=0)
        >>> state.log_parameter("prompt", "Answer briefly.")
        >>> state.snapshot()["steps"][0]["metrics"]
        {'loss': 0.5}
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.rev = 0
        self._data: dict[str, Any] = {
            "format": FORMAT,
            "version": 1,
            "status": "idle",
            "epoch": None,
            "steps": [],
            "validation": [],
            "epochs": [],
            "parameters": {},
            "usage": {
                "prompt_tokens": 0,
                "completion_tokens": 0,
                "total_tokens": 0,
                "cost": 0.0,
                "currency": "USD",
                "calls": 0,
            },
        }
        self._pending: dict[str, Any] = {}

    def _append(self, key: str, item: Any) -> None:
        self._data[key].append(item)
        self._pending.setdefault(key, []).append(item)

    def _touch(self, key: str) -> None:
        self._pending[key] = self._data[key]

    def set_status(self, status: str, epoch: int | None = None) -> None:
        """Sets the run status (``idle``, ``running``, ``done``, ``error``) and epoch."""
        with self._lock:
            self._data["status"] = status
            self._touch("status")
            if epoch is not None:
                self._data["epoch"] = epoch
                self._touch("epoch")

    def log_step(self, metrics: Any, *, epoch: int | None = None, batch: int | None = None) -> None:
        """Records the metrics of one training step (a batch)."""
        with self._lock:
            step = len(self._data["steps"])
            self._append(
                "steps",
                {"step": step, "epoch": epoch, "batch": batch, "metrics": metrics_to_dict(metrics)},
            )

    def log_validation(self, metrics: Any, *, epoch: int | None = None) -> None:
        """Records validation metrics, placed after the last training step."""
        with self._lock:
            step = max(len(self._data["steps"]) - 1, 0)
            self._append(
                "validation", {"step": step, "epoch": epoch, "metrics": metrics_to_dict(metrics)}
            )

    def log_epoch(self, metrics: Any, *, epoch: int | None = None) -> None:
        """Records the metrics of a whole epoch."""
        with self._lock:
            self._append("epochs", {"epoch": epoch, "metrics": metrics_to_dict(metrics)})

    def log_parameter(self, name: str, text: Any, *, epoch: int | None = None) -> None:
        """Records a parameter's value (kept only when it changed since the last entry)."""
        value, _ = json_safe(getattr(text, "data", text))
        value = value if isinstance(value, str) else str(value)
        with self._lock:
            history = self._data["parameters"].setdefault(name, [])
            if history and history[-1]["text"] == value:
                return
            entry = {"step": len(self._data["steps"]), "epoch": epoch, "text": value}
            history.append(entry)
            self._pending.setdefault("parameters", {}).setdefault(name, []).append(entry)

    def add_call(self, record: Any) -> None:
        """Adds a model call's tokens and cost to the running totals."""
        tokens, amount, currency = _usage_of(call_to_dict(record))
        with self._lock:
            usage = self._data["usage"]
            for key, value in tokens.items():
                usage[key] += value
            usage["cost"] += amount
            if currency:
                usage["currency"] = currency
            usage["calls"] += 1
            self._touch("usage")

    def snapshot(self) -> dict[str, Any]:
        """Everything, as a dict (format ``afnio-training``, see docs/widgets.md)."""
        with self._lock:
            data = dict(self._data)
            data["parameters"] = {k: list(v) for k, v in self._data["parameters"].items()}
            data["usage"] = dict(self._data["usage"])
            return data

    def take_patch(self) -> dict[str, Any] | None:
        """The changes since the last patch, or ``None``."""
        with self._lock:
            if not self._pending:
                return None
            patch = {"type": "patch", "base": self.rev, "rev": self.rev + 1, **self._pending}
            if "usage" in patch:
                patch["usage"] = dict(patch["usage"])
            self.rev += 1
            self._pending = {}
            return patch


def _named_parameters(agent: Any) -> list[tuple[str, Any]]:
    named = getattr(agent, "named_parameters", None)
    if callable(named):
        try:
            return [(str(name), p) for name, p in named()]
        except TypeError:
            return []
    return []


class TrainingView(anywidget.AnyWidget):
    """A live chart of a training run, usable as a ``Trainer`` callback.

    Shows the metrics of every step and epoch (an SVG chart), each parameter's text after every
    optimizer step with a word-level diff against the previous version, and the tokens and cost
    of the model calls so far.

    Pass it to ``afnio.trainer.Trainer(callbacks=[view])`` and display it; or feed it by hand
    with :meth:`log_step`, :meth:`log_parameter` and friends.

    Args:
        height: Height of the chart in pixels.
        title: A title shown above the chart.
        track_calls: Count the tokens and cost of every model call recorded by graph nodes.

    Example:
        >>> from afnio_widgets import TrainingView
        >>> view = TrainingView(track_calls=False)
        >>> view.log_parameter("system prompt", "Answer.")
        >>> view.log_step({"loss": 0.4})
        >>> view.log_parameter("system prompt", "Answer in one word.")
        >>> [e["text"] for e in view.data["parameters"]["system prompt"]]
        ['Answer.', 'Answer in one word.']
        >>> view.close()
    """

    _esm = bundle("training.js")
    _css = bundle("widget.css")

    height = traitlets.Int(260).tag(sync=True)
    """Height of the metrics chart in pixels."""

    title = traitlets.Unicode("").tag(sync=True)
    """A title shown above the chart."""

    def __init__(self, *, height: int = 260, title: str = "", track_calls: bool = True) -> None:
        super().__init__(height=height, title=title)
        self._state = TrainingState()
        self._throttle = Throttle(
            self._flush, interval=float(os.environ.get("AFNIO_WIDGETS_INTERVAL", 0.1))
        )
        self._epoch: int | None = None
        self._observer = register_graph_observer(self._on_event) if track_calls else None
        self.on_msg(self._on_message)

    @property
    def data(self) -> dict[str, Any]:
        """Everything shown, as a dict (format ``afnio-training``)."""
        return self._state.snapshot()

    # -- manual logging -------------------------------------------------------------------------
    def log_step(self, metrics: Any, *, epoch: int | None = None, batch: int | None = None) -> None:
        """Adds one training step's metrics (numbers; other values are left out)."""
        self._state.log_step(metrics, epoch=self._epoch if epoch is None else epoch, batch=batch)
        self._throttle.poke()

    def log_validation(self, metrics: Any, *, epoch: int | None = None) -> None:
        """Adds validation metrics."""
        self._state.log_validation(metrics, epoch=self._epoch if epoch is None else epoch)
        self._throttle.poke()

    def log_epoch(self, metrics: Any, *, epoch: int | None = None) -> None:
        """Adds an epoch's metrics."""
        self._state.log_epoch(metrics, epoch=self._epoch if epoch is None else epoch)
        self._throttle.poke()

    def log_parameter(self, name: str, text: Any) -> None:
        """Adds a parameter's value (a string or a Variable); unchanged values are skipped."""
        self._state.log_parameter(name, text, epoch=self._epoch)
        self._throttle.poke()

    def log_call(self, record: Any) -> None:
        """Adds a model call's tokens and cost (a ``ModelCall`` or its dict)."""
        self._state.add_call(record)
        self._throttle.poke()

    def flush(self) -> None:
        """Sends pending changes now."""
        self._throttle.flush_now()

    def close(self) -> None:
        """Stops counting model calls and closes the widget."""
        if self._observer is not None:
            self._observer.remove()
            self._observer = None
        self._throttle.close()
        super().close()

    # -- Trainer callback -----------------------------------------------------------------------
    def on_fit_start(
        self, trainer: Any = None, agent: Any = None, *args: Any, **kwargs: Any
    ) -> None:
        """Marks the run as started and records the parameters' initial values."""
        self._state.set_status("running")
        for name, parameter in _named_parameters(agent):
            self.log_parameter(name, parameter)
        self._throttle.poke()

    def on_train_epoch_start(
        self, trainer: Any = None, agent: Any = None, *args: Any, **kwargs: Any
    ) -> None:
        """Notes the current epoch."""
        self._epoch = getattr(trainer, "current_epoch", None)
        self._state.set_status("running", self._epoch)
        self._throttle.poke()

    def on_train_batch_end(
        self,
        trainer: Any = None,
        agent: Any = None,
        metrics: Any = None,
        batch_idx: Any = None,
        *args: Any,
        **kwargs: Any,
    ) -> None:
        """Records a training step's metrics."""
        if self._epoch is None:
            self._epoch = getattr(trainer, "current_epoch", None)
        self.log_step(metrics, batch=batch_idx if isinstance(batch_idx, int) else None)

    def on_optimizer_step(
        self, trainer: Any = None, agent: Any = None, changes: Any = None, *args: Any, **kwargs: Any
    ) -> None:
        """Records each parameter's new value (``changes`` holds values before and after)."""
        for name, after in _changes(changes):
            self.log_parameter(name, after)

    def on_train_epoch_end(
        self, trainer: Any = None, agent: Any = None, metrics: Any = None, *args: Any, **kwargs: Any
    ) -> None:
        """Records an epoch's metrics."""
        if metrics is not None:
            self.log_epoch(metrics)

    def on_validation_end(
        self, trainer: Any = None, agent: Any = None, metrics: Any = None, *args: Any, **kwargs: Any
    ) -> None:
        """Records validation metrics."""
        if metrics is not None:
            self.log_validation(metrics)

    def on_fit_end(self, trainer: Any = None, agent: Any = None, *args: Any, **kwargs: Any) -> None:
        """Marks the run as finished and sends everything."""
        self._state.set_status("done")
        self.flush()

    # -- plumbing -------------------------------------------------------------------------------
    def _on_event(self, event: GraphEvent) -> None:
        if event.kind == "model_call":
            self.log_call(event.record)

    def _flush(self) -> None:
        patch = self._state.take_patch()
        if patch is not None and self.comm is not None:
            self.send(patch)

    def _on_message(self, _widget: Any, content: Any, _buffers: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ready":
            self.flush()
            if self.comm is not None:
                self.send({"type": "snapshot", "rev": self._state.rev, "data": self.data})


def _changes(changes: Any) -> list[tuple[str, Any]]:
    """``(name, value after)`` pairs from an optimizer step's changes, in the shapes a Trainer
    may report them: a mapping name -> (before, after) or -> {"before", "after"}, or a list of
    dicts with ``name`` and ``after``."""
    out: list[tuple[str, Any]] = []
    if isinstance(changes, Mapping):
        items = list(changes.items())
    elif isinstance(changes, (list, tuple)):
        items = [
            (c.get("name", str(i)), c) if isinstance(c, Mapping) else (str(i), c)
            for i, c in enumerate(changes)
        ]
    else:
        return out
    for name, value in items:
        if isinstance(value, Mapping):
            after = value.get("after", value.get("new"))
        elif isinstance(value, (list, tuple)) and len(value) == 2:
            after = value[1]
        else:
            after = value
        if after is not None:
            out.append((str(name), after))
    return out
