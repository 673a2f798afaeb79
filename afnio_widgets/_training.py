"""The :class:`TrainingView` widget: a Trainer callback that charts a training run live."""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping
from typing import Any

import traitlets

from afnio.autodiff.graph import GraphEvent, register_graph_observer
from afnio.tellurio import Metric, Run, get_active_run, read_run, register_log_observer
from afnio.trainer import Callback
from afnio_widgets._graph import call_to_dict, call_usage, json_safe
from afnio_widgets._sync import SyncedWidget, Throttle

__all__ = ["TrainingState", "TrainingView"]

FORMAT = "afnio-training"

_RUN_STATUS = {"RUNNING": "running", "COMPLETED": "done", "FAILED": "error", "CRASHED": "error"}
"""How an ``afnio.tellurio`` run's status shows in a view."""


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


class TrainingState:
    """What a training view shows, and whether it changed since it was last published
    (thread-safe).

    Example:
        >>> state = TrainingState()
        >>> state.log_step({"loss": 0.5}, epoch=0, batch=0)
        >>> state.log_parameter("prompt", "Answer briefly.")
        >>> state.take_published()["steps"][0]["metrics"], state.take_published()
        ({'loss': 0.5}, None)
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._changed = True
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

    def _append(self, key: str, item: Any) -> None:
        self._data[key].append(item)
        self._changed = True

    def _touch(self, key: str) -> None:
        self._changed = True

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

    def log_metric(self, name: str, value: Any, step: int) -> None:
        """Records one value logged to a run at ``step``, beside the other metrics of that step
        (a value that is not a number is left out)."""
        number = _number(value)
        if number is None:
            return
        with self._lock:
            steps = self._data["steps"]
            at = next((i for i in range(len(steps) - 1, -1, -1) if steps[i]["step"] == step), None)
            if at is None:
                steps.append({"step": step, "epoch": None, "batch": None, "metrics": {}})
                steps.sort(key=lambda record: record["step"])
                at = next(i for i, record in enumerate(steps) if record["step"] == step)
            # A new record: what was published before keeps the old one.
            record = steps[at]
            steps[at] = {**record, "metrics": {**record["metrics"], name: number}}
            self._changed = True

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
            self._changed = True

    def add_call(self, record: Any) -> None:
        """Adds a model call's tokens and cost to the running totals."""
        tokens, amount, currency = call_usage(call_to_dict(record))
        with self._lock:
            usage = self._data["usage"]
            for key, value in tokens.items():
                usage[key] += value
            usage["cost"] += amount or 0.0
            if currency:
                usage["currency"] = currency
            usage["calls"] += 1
            self._touch("usage")

    def set_usage(self, tokens: dict[str, Any] | None, cost: float) -> None:
        """Replaces the totals (when they come from the clients' or the Trainer's own count)."""
        with self._lock:
            usage = self._data["usage"]
            if tokens is not None:
                usage.update(tokens)
            usage["cost"] = cost
            self._touch("usage")

    def snapshot(self) -> dict[str, Any]:
        """Everything, as a dict (format ``afnio-training``, see docs/widgets.md)."""
        with self._lock:
            return self._copy()

    def _copy(self) -> dict[str, Any]:
        data = dict(self._data)
        for key in ("steps", "validation", "epochs"):
            data[key] = list(self._data[key])
        data["parameters"] = {k: list(v) for k, v in self._data["parameters"].items()}
        data["usage"] = dict(self._data["usage"])
        return data

    def take_published(self) -> dict[str, Any] | None:
        """Everything, if it changed since the last call; else ``None``."""
        with self._lock:
            if not self._changed:
                return None
            self._changed = False
            return self._copy()


def _named_parameters(agent: Any) -> list[tuple[str, Any]]:
    named = getattr(agent, "named_parameters", None)
    if not callable(named):
        return []
    return [(str(name), p) for name, p in named()]


def _client_usage(clients: list[Any]) -> tuple[dict[str, int], float]:
    tokens = {"prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0}
    cost = 0.0
    for client in clients:
        usage = client.get_usage()
        for key in tokens:
            value = usage.get(key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                tokens[key] += int(value)
        amount = (usage.get("cost") or {}).get("amount")
        if isinstance(amount, (int, float)):
            cost += float(amount)
    return tokens, cost


class TrainingView(SyncedWidget, Callback):
    """A live view of a training run, and a :class:`afnio.trainer.Callback` that feeds it.

    Shows the metrics of every training step and validation pass as SVG charts (epoch
    boundaries dashed), the epoch table, each parameter's text after every optimizer step with a
    word-level diff against the previous version, and the tokens and cost spent so far.

    Pass it to ``Trainer(callbacks=[view])`` and display it (before ``fit``, to watch it live);
    or feed it by hand with :meth:`log_step`, :meth:`log_parameter` and friends; or show a run
    logged with :mod:`afnio.tellurio`: live with :meth:`follow_run`, or later from its folder
    with :meth:`from_run`. What it shows
    is its synced :attr:`data` trait, so a saved notebook shows the run without a kernel.

    Tokens and cost: with ``clients`` (the model clients also given to ``fit(llm_clients=...)``),
    their usage since ``fit`` started (forward, backward and optimizer calls); otherwise the calls
    recorded by graph nodes (forward and backward), with the cost the Trainer reports when it
    reports one.

    Args:
        clients: Model clients whose usage to show.
        height: Height of each metric chart in pixels.
        title: A title shown above the charts.
        track_calls: Count the model calls recorded by graph nodes (when ``clients`` is not
            given).

    Example:
        >>> from afnio_widgets import TrainingView
        >>> view = TrainingView(track_calls=False)
        >>> view.log_parameter("system prompt", "Answer.")
        >>> view.log_step({"loss": 0.4})
        >>> view.log_parameter("system prompt", "Answer in one word.")
        >>> view.flush()
        >>> [e["text"] for e in view.data["parameters"]["system prompt"]]
        ['Answer.', 'Answer in one word.']
        >>> view.close()
    """

    bundle_name = "training.js"
    _observer_attributes = ("_observer", "_run_observer")

    data = traitlets.Dict().tag(sync=True)
    """Everything shown, as a dict (format ``afnio-training``, see docs/widgets.md). Updated at
    most 12.5 times a second while the run changes it, and before every cell ends. Read-only."""

    height = traitlets.Int(200).tag(sync=True)
    """Height of each metric chart in pixels."""

    title = traitlets.Unicode("").tag(sync=True)
    """A title shown above the charts."""

    def __init__(
        self,
        clients: list[Any] | None = None,
        *,
        height: int = 200,
        title: str = "",
        track_calls: bool = True,
    ) -> None:
        self._state = TrainingState()
        if clients:
            self._state.set_usage({"calls": None}, 0.0)  # counted by the clients, not here
        super().__init__(data=self._state.take_published(), height=height, title=title)
        self._throttle = Throttle(self._publish)
        self._epoch: int | None = None
        self._clients = list(clients or [])
        self._baseline: tuple[dict[str, int], float] | None = None
        use_events = track_calls and not self._clients
        self._observer = register_graph_observer(self._on_event) if use_events else None
        self._run_observer: Any = None

    # -- afnio.tellurio runs --------------------------------------------------------------------
    @classmethod
    def from_run(cls, path: Any, **options: Any) -> TrainingView:
        """A view of a run logged with :mod:`afnio.tellurio`, read from its folder: each
        metric charted by its steps, the run's status, and its project and name as the title.

        Args:
            path: The run folder (``run.path``: ``runs/<namespace>/<project>/<name>``).
            **options: ``height``, ``title``.

        Raises:
            FileNotFoundError: If ``path`` has no ``run.json``.
            ValueError: If it is not an afnio run, or a metric line is malformed.

        Example:
            >>> import tempfile
            >>> from afnio import tellurio
            >>> from afnio_widgets import TrainingView
            >>> with tempfile.TemporaryDirectory() as root:
            ...     with tellurio.init("me", "Demo", name="first", root=root) as run:
            ...         run.log("loss", 0.5)
            ...         run.log("loss", 0.25)
            ...     view = TrainingView.from_run(run.path)
            >>> [s["metrics"] for s in view.data["steps"]], view.data["status"], view.title
            ([{'loss': 0.5}, {'loss': 0.25}], 'done', 'Demo · first')
            >>> view.close()
        """
        run = read_run(path)
        meta = run.metadata
        options.setdefault("title", f"{meta.get('project_display_name', '')} · {meta.get('name')}")
        view = cls(track_calls=False, **options)
        for metric in run.metrics:
            view._state.log_metric(metric.name, metric.value, metric.step)
        view._state.set_status(_RUN_STATUS.get(str(meta.get("status")), "idle"))
        view.flush()
        return view

    def follow_run(self, run: Run | None = None) -> None:
        """Shows the values logged to ``run`` (default: the active :mod:`afnio.tellurio` run):
        those logged so far, then each one as it is logged.

        Raises:
            RuntimeError: Without ``run`` when no run is active.
        """
        target = run if run is not None else get_active_run()
        if target is None:
            raise RuntimeError(
                "No afnio.tellurio run to follow: start one with afnio.tellurio.init(...) or "
                "pass run=..."
            )

        def observe(logged: Run, metric: Metric) -> None:
            if logged is target:
                self._state.log_metric(metric.name, metric.value, metric.step)
                self._throttle.poke()

        if self._run_observer is not None:
            self._run_observer.remove()
        self._run_observer = register_log_observer(observe)
        for metric in read_run(target.path).metrics:  # a value logged twice merges into one
            self._state.log_metric(metric.name, metric.value, metric.step)
        self._state.set_status("running")
        self._throttle.poke()

    # -- manual logging -------------------------------------------------------------------------
    def log_step(self, metrics: Any, *, epoch: int | None = None, batch: int | None = None) -> None:
        """Adds one training step's metrics (numbers; other values are left out)."""
        self._state.log_step(metrics, epoch=self._epoch if epoch is None else epoch, batch=batch)
        self._throttle.poke()

    def log_validation(self, metrics: Any, *, epoch: int | None = None) -> None:
        """Adds validation metrics (drawn as points after the last step)."""
        self._state.log_validation(metrics, epoch=self._epoch if epoch is None else epoch)
        self._throttle.poke()

    def log_epoch(self, metrics: Any, *, epoch: int | None = None) -> None:
        """Adds an epoch's metrics (a row of the epoch table)."""
        self._state.log_epoch(metrics, epoch=self._epoch if epoch is None else epoch)
        self._throttle.poke()

    def log_parameter(self, name: str, text: Any) -> None:
        """Adds a parameter's value (a string or a Variable); an unchanged value is skipped."""
        self._state.log_parameter(name, text, epoch=self._epoch)
        self._throttle.poke()

    def log_call(self, record: Any) -> None:
        """Adds a model call's tokens and cost (a ``ModelCall`` or its dict)."""
        self._state.add_call(record)
        self._throttle.poke()

    def flush(self) -> None:
        """Publishes pending changes to :attr:`data` now (it also happens after every cell)."""
        if hasattr(self, "_throttle"):
            self._throttle.flush_now()

    def close(self) -> None:
        """Stops counting model calls and following runs, and closes the widget."""
        self._stop_updates()
        super().close()

    # -- Trainer callback -----------------------------------------------------------------------
    def _poll_usage(self, trainer: Any) -> None:
        if self._clients:
            tokens, cost = _client_usage(self._clients)
            base_tokens, base_cost = self._baseline or (dict.fromkeys(tokens, 0), 0.0)
            self._state.set_usage(
                {k: tokens[k] - base_tokens.get(k, 0) for k in tokens}, cost - base_cost
            )
        else:
            total = getattr(trainer, "total_cost", None)
            if isinstance(total, (int, float)) and total > 0:
                self._state.set_usage(None, float(total))

    def on_fit_start(self, trainer: Any, agent: Any) -> None:
        """Marks the run as started and records the parameters' initial values."""
        if self._clients:
            self._baseline = _client_usage(self._clients)
        self._state.set_status("running")
        for name, parameter in _named_parameters(agent):
            self._state.log_parameter(name, parameter, epoch=self._epoch)
        self._throttle.poke()

    def on_train_epoch_start(self, trainer: Any, agent: Any, epoch: int) -> None:
        """Notes the current epoch."""
        self._epoch = epoch
        self._state.set_status("running", epoch)
        self._throttle.poke()

    def on_train_batch_end(
        self, trainer: Any, agent: Any, metrics: dict[str, float] | None, batch_idx: int
    ) -> None:
        """Records a training step's metrics (a skipped batch has none)."""
        if metrics is not None:
            self._state.log_step(metrics, epoch=self._epoch, batch=batch_idx)
        self._poll_usage(trainer)
        self._throttle.poke()

    def on_optimizer_step(self, trainer: Any, agent: Any, changes: Any) -> None:
        """Records each changed parameter's new value."""
        known = self._state.snapshot()["parameters"]
        for name, before, after in _changes(changes):
            if name not in known and before is not None:
                self._state.log_parameter(name, before, epoch=self._epoch)
            self._state.log_parameter(name, after, epoch=self._epoch)
        self._throttle.poke()

    def on_validation_end(self, trainer: Any, agent: Any, metrics: dict[str, float]) -> None:
        """Records validation metrics."""
        self._state.log_validation(metrics, epoch=self._epoch)
        self._poll_usage(trainer)
        self._throttle.poke()

    def on_train_epoch_end(self, trainer: Any, agent: Any, metrics: dict[str, Any]) -> None:
        """Records the epoch's mean training metrics (and validation ones, prefixed ``val_``)."""
        row = dict(metrics.get("train") or {})
        row.update({f"val_{k}": v for k, v in (metrics.get("val") or {}).items()})
        if isinstance(metrics.get("cost"), (int, float)):
            row["cost"] = metrics["cost"]
        self._state.log_epoch(row, epoch=metrics.get("epoch", self._epoch))
        self._throttle.poke()

    def on_fit_end(self, trainer: Any, agent: Any) -> None:
        """Marks the run as finished and sends everything."""
        self._poll_usage(trainer)
        self._state.set_status("done")
        self.flush()

    # -- plumbing -------------------------------------------------------------------------------
    def _on_event(self, event: GraphEvent) -> None:
        if event.kind == "model_call":
            self.log_call(event.record)

    def _publish(self) -> None:
        data = self._state.take_published()
        if data is not None:
            self.data = data


def _changes(changes: Any) -> list[tuple[str, Any, Any]]:
    """``(name, before, after)`` triples from an optimizer step's changes: a list of
    :class:`afnio.trainer.ParameterChange` (or of dicts with ``name``, ``before``, ``after``), or
    a mapping name -> (before, after)."""
    out: list[tuple[str, Any, Any]] = []
    if isinstance(changes, Mapping):
        for name, value in changes.items():
            if isinstance(value, (list, tuple)) and len(value) == 2:
                out.append((str(name), value[0], value[1]))
            else:
                out.append((str(name), None, value))
    elif isinstance(changes, (list, tuple)):
        for i, change in enumerate(changes):
            if isinstance(change, Mapping):
                out.append((str(change.get("name", i)), change.get("before"), change.get("after")))
            elif hasattr(change, "after"):
                out.append(
                    (str(getattr(change, "name", i)), getattr(change, "before", None), change.after)
                )
    return [item for item in out if item[2] is not None]
