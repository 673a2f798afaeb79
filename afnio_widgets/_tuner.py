"""The :class:`PromptTuner` widget: exploratory prompt tuning in the notebook."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import anywidget
import traitlets

from afnio.autodiff.graph import GraphEvent, register_graph_observer
from afnio.cognitive import Module
from afnio_widgets._graph import call_to_dict, call_usage, wire
from afnio_widgets._graphview import GraphView
from afnio_widgets._sync import SyncedWidget, Throttle
from afnio_widgets._tuning import TuningSession

__all__ = ["PromptTuner"]

ACTIONS = ("run", "feedback", "step", "accept", "reject", "revert", "compare", "edit")


def _cut_calls(calls: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Model calls as sent to the view: long texts and lists cut (see ``wire``)."""
    return list(wire({"calls": calls}).get("calls") or [])


def _idle_status() -> dict[str, Any]:
    return {"busy": False, "action": "", "calls": 0, "seconds": 0.0, "error": "", "message": ""}


class PromptTuner(SyncedWidget):
    """Exploratory prompt tuning: run the agent on a batch, read the feedback, step, accept or
    edit, compare versions — the Trainer's contract, one action at a time.

    The agent is the one you train with :class:`afnio.trainer.Trainer`: an
    :class:`afnio.cognitive.Module` whose ``training_step(batch, batch_idx)`` returns
    ``{"loss": (score, explanation), ...metrics}`` and whose ``configure_optimizers()`` gives the
    optimizer (unless ``optimizer`` is given).

    * **Run**: ``training_step`` on the batch (model calls concurrent as always): a table per
      example (input, output, target, score, explanation, the model calls) and the metrics. If
      the batch fails, each example runs alone, so a failed call shows afnio's error in its row
      and the other rows fill.
    * **Feedback**: ``backward()`` from the explanation; each parameter's gradients, split by
      the example they came from; the run's graph in a :class:`GraphView` (:attr:`graph`).
    * **Step**: the optimizer's proposal for each parameter, shown as a word diff; nothing
      changes until **Accept** (the proposal may be edited first); **Reject** keeps the text.
    * **History**: every version of the parameters with the scores of the runs made with it;
      restore one, or **compare** two on the same batch.

    Each button has a Python method (:meth:`run`, :meth:`feedback`, :meth:`step`,
    :meth:`accept`, :meth:`reject`, :meth:`revert`, :meth:`compare`, :meth:`edit`). Buttons run
    in a worker thread, so the notebook stays responsive while models answer; the view shows
    progress. Everything drawn is in synced traits: a saved notebook shows the last state (its
    buttons off, as no kernel answers them).

    Args:
        agent: The agent (a Module with ``training_step``).
        batch: One batch, as a DataLoader yields it (e.g. ``next(iter(loader))``).
        optimizer: An optimizer (or list of them) to use instead of
            ``agent.configure_optimizers()``.
        title: A title shown in the toolbar.

    Raises:
        TypeError: For an agent that is not a Module, or no Optimizer.
        ValueError: For an agent with manual optimization or no Parameter, or a batch that
            cannot be split into examples.
        AttributeError: If the agent does not implement ``training_step``.
    """

    bundle_name = "tuner.js"

    title = traitlets.Unicode("").tag(sync=True)
    """A title shown in the toolbar."""

    parameters = traitlets.List(traitlets.Dict()).tag(sync=True)
    """The agent's parameters: ``[{"name", "role", "text", "preview"}]`` (current texts)."""

    version = traitlets.Int(0).tag(sync=True)
    """The number of the current version (an entry of :attr:`versions`)."""

    versions = traitlets.List(traitlets.Dict()).tag(sync=True)
    """Every version: ``[{"version", "texts", "source", "parent", "runs"}]`` (see
    :attr:`history`)."""

    results = traitlets.Dict().tag(sync=True)
    """The last run: ``{"run", "version", "rows", "metrics", "failed", "per_example"}``, each
    row ``{"index", "input", "output", "target", "score", "explanation", "error", "calls"}``
    (``{}`` before the first run)."""

    gradients = traitlets.Dict().tag(sync=True)
    """The last feedback: ``{"run", "parameters": {name: [{"example", "text", "role"}]},
    "calls"}`` (``{}`` when there is none for the last run)."""

    proposal = traitlets.Dict().tag(sync=True)
    """The pending proposal: ``{"parameters": {name: {"before", "after"}}, "calls"}`` (``{}``
    when there is none)."""

    comparison = traitlets.Dict().tag(sync=True)
    """The last comparison: ``{"versions", "runs", "metrics", "rows"}`` (``{}`` before one)."""

    usage = traitlets.Dict().tag(sync=True)
    """Model calls made by the tuner so far: ``{"prompt_tokens", "completion_tokens",
    "total_tokens", "cost", "currency", "calls", "unpriced"}``."""

    status = traitlets.Dict().tag(sync=True)
    """``{"busy", "action", "calls", "seconds", "error", "message"}``: the action in progress
    (with the model calls done so far), or the last one's error."""

    graph = anywidget.WidgetTrait().tag(sync=True)
    """The last run's graph, from its feedback on (a :class:`GraphView`; ``None`` before)."""

    def __init__(
        self,
        agent: Module,
        batch: Any,
        *,
        optimizer: Any = None,
        title: str = "",
    ) -> None:
        session = TuningSession(agent, batch, optimizer, on_call=self._count_call)
        super().__init__(title=title)
        self._session = session
        self._usage_lock = threading.Lock()
        self._counting = False
        self._action_calls = 0
        self._action_started = 0.0
        self._usage: dict[str, Any] = {
            "prompt_tokens": 0,
            "completion_tokens": 0,
            "total_tokens": 0,
            "cost": 0.0,
            "currency": "USD",
            "calls": 0,
            "unpriced": 0,
        }
        self._worker: threading.Thread | None = None
        self._action_lock = threading.RLock()  # one action at a time, from a button or Python
        self._throttle = Throttle(self._send_progress)
        self._observer = register_graph_observer(self._on_event)
        self.status = _idle_status()
        self._publish()

    # -- Python API (what the buttons do) -------------------------------------------------------
    @property
    def session(self) -> TuningSession:
        """The session behind the view (runs, versions, the last proposal)."""
        return self._session

    @property
    def history(self) -> list[dict[str, Any]]:
        """Every version: ``{"version", "texts": {name: text}, "source", "parent", "runs"}``,
        ``runs`` listing ``{"run", "metrics", "failed"}`` of each run made with it."""
        return self._session.history()

    def run(self) -> dict[str, Any]:
        """Forward and evaluation on the batch with the current texts (see the class doc).

        Returns:
            The run, as in :attr:`results`.
        """
        return self._act("run", self._session.run)

    def feedback(self) -> dict[str, Any]:
        """``backward()`` from the last run; the gradients, as in :attr:`gradients`.

        Raises:
            RuntimeError: Without a run, or when its feedback was already computed.
        """
        return self._act("feedback", self._feedback)

    def step(self) -> dict[str, Any]:
        """The optimizer's proposal, not applied until :meth:`accept` (see :attr:`proposal`).

        Raises:
            RuntimeError: Before :meth:`feedback`.
        """
        return self._act("step", self._session.step)

    def accept(self, edits: Mapping[str, str] | None = None) -> int:
        """Applies the proposal, with ``edits`` (name -> text) replacing proposed texts.

        Returns:
            The new version's number.
        """
        return self._act("accept", lambda: self._session.accept(edits))

    def reject(self) -> None:
        """Drops the proposal; the texts stay as they are."""
        self._act("reject", self._session.reject)

    def edit(self, name: str, text: str) -> int:
        """Sets parameter ``name`` to ``text`` in the kernel, as a new version.

        Returns:
            The current version's number.
        """
        return self._act("edit", lambda: self._session.set_text(name, text))

    def revert(self, version: int) -> int:
        """Restores every parameter to its text in ``version`` (recorded as a new version).

        Returns:
            The current version's number.
        """
        return self._act("revert", lambda: self._session.revert(version))

    def compare(self, v1: int, v2: int) -> dict[str, Any]:
        """Runs the batch with versions ``v1`` and ``v2`` and shows them side by side, the
        examples that differ first (see :attr:`comparison`)."""
        return self._act("compare", lambda: self._session.compare(v1, v2))

    def wait(self, timeout: float | None = None) -> bool:
        """Waits for an action started from the view to finish; returns whether none runs."""
        worker = self._worker
        if worker is not None:
            worker.join(timeout)
        return self._worker is None or not self._worker.is_alive()

    def close(self) -> None:
        """Stops counting model calls, closes the graph view and the widget."""
        self._stop_updates()
        graph = getattr(self, "graph", None)
        if graph is not None:
            graph.close()
        super().close()

    # -- plumbing -------------------------------------------------------------------------------
    def _feedback(self) -> dict[str, Any]:
        roots = self._session.explanations()
        old = self.graph
        # Drawn before backward, so that the view follows the pass and keeps the gradients
        # that flowed along each edge.
        self.graph = GraphView(roots, title="The run's graph", height=480) if roots else None
        if old is not None:
            old.close()
        return self._session.feedback()

    def _act(self, action: str, fn: Callable[[], Any]) -> Any:
        with self._action_lock:
            return self._act_now(action, fn)

    def _act_now(self, action: str, fn: Callable[[], Any]) -> Any:
        with self._usage_lock:
            self._counting = True
            self._action_calls = 0
            self._action_started = time.monotonic()
        self.status = {**_idle_status(), "busy": True, "action": action}
        try:
            result = fn()
        except Exception as exc:
            error = f"{type(exc).__name__}: {exc}"
            self.status = {**_idle_status(), "action": action, "error": error}
            self._publish()
            raise
        finally:
            with self._usage_lock:
                self._counting = False
        self._publish()
        self.status = {**_idle_status(), "action": action, "message": self._done(action)}
        return result

    def _done(self, action: str) -> str:
        calls = self._action_calls
        seconds = time.monotonic() - self._action_started
        return f"{action}: done in {seconds:.1f} s, {calls} model call{'s' * (calls != 1)}"

    def _publish(self) -> None:
        """Copies the session's state into the synced traits."""
        s = self._session
        results = dict(s.last_run or {})
        if results:
            results["rows"] = [
                {**row, "calls": _cut_calls(row["calls"])} for row in results.get("rows", [])
            ]
        gradients = dict(s.feedback_result or {})
        if gradients:
            gradients["calls"] = _cut_calls(gradients.get("calls", []))
        proposal = dict(s.proposal or {})
        if proposal:
            proposal["calls"] = _cut_calls(proposal.get("calls", []))
        with self.hold_sync():
            self.parameters = s.parameter_rows()
            self.version = s.version
            self.versions = s.history()
            self.results = results
            self.gradients = gradients
            self.proposal = proposal
            self.comparison = dict(s.comparison or {})
            with self._usage_lock:
                self.usage = dict(self._usage)

    def _count_call(self, record: Any) -> None:
        tokens, amount, currency = call_usage(call_to_dict(record))
        with self._usage_lock:
            if not self._counting:
                return
            usage = self._usage
            for key, value in tokens.items():
                usage[key] = usage.get(key, 0) + value
            if amount is None:
                usage["unpriced"] += 1
            else:
                usage["cost"] += amount
            if currency:
                usage["currency"] = currency
            usage["calls"] += 1
            self._action_calls += 1
        self._throttle.poke()

    def _on_event(self, event: GraphEvent) -> None:
        if event.kind == "model_call":
            self._count_call(event.record)

    def _send_progress(self) -> None:
        with self._usage_lock:
            if not self._counting:
                return
            calls, usage = self._action_calls, dict(self._usage)
            seconds = time.monotonic() - self._action_started
        status = dict(self.status)
        if status.get("busy"):
            self.status = {**status, "calls": calls, "seconds": round(seconds, 1)}
            self.usage = usage

    def flush(self) -> None:
        """Publishes the progress of a running action now (actions publish when they end)."""
        if hasattr(self, "_throttle"):
            self._throttle.flush_now()

    def _on_message(self, content: dict[str, Any]) -> None:
        if content.get("type") != "action":
            return
        action = content.get("action")
        if action not in ACTIONS:
            return
        if self._worker is not None and self._worker.is_alive():
            self.status = {**dict(self.status), "error": "Busy: wait for the current action."}
            return
        calls: dict[str, Callable[[], Any]] = {
            "run": self.run,
            "feedback": self.feedback,
            "step": self.step,
            "accept": lambda: self.accept(content.get("edits") or None),
            "reject": self.reject,
            "revert": lambda: self.revert(content.get("version")),
            "compare": lambda: self.compare(content.get("v1"), content.get("v2")),
            "edit": lambda: self.edit(str(content.get("name")), content.get("text")),
        }

        def work() -> None:
            try:
                calls[action]()
            except Exception:
                pass  # shown in `status` by _act
            finally:
                self._worker = None

        # The kernel thread returns at once: models answer while the page stays responsive.
        self._worker = threading.Thread(target=work, name=f"afnio-tuner-{action}", daemon=True)
        self._worker.start()
