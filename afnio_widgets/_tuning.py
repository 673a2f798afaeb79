"""The prompt-tuning session behind :class:`~afnio_widgets.PromptTuner`: runs, feedback,
proposals, versions and comparisons, with no widget in sight.

A session drives an agent through the Trainer's contract (``training_step``,
``configure_optimizers``) one action at a time, on one batch, and keeps everything as plain
JSON-safe dicts for the view. Every action is a blocking call; the widget runs them in a worker
thread.
"""

from __future__ import annotations

import copy
import threading
from collections.abc import Callable, Mapping
from typing import Any

from afnio._variable import Variable
from afnio.cognitive import Module
from afnio.optim import Optimizer
from afnio.utils.data.dataloader import uncollate
from afnio_widgets._graph import call_to_dict, preview
from afnio_widgets._tuner_run import (
    StepPart,
    as_text,
    attribute_gradient,
    graph_calls,
    mean_metrics,
    rows_of,
    run_step,
)

__all__ = ["TuningSession"]


def _optimizers(agent: Module, optimizer: Any) -> list[Optimizer]:
    returned = agent.configure_optimizers() if optimizer is None else optimizer
    items = list(returned) if isinstance(returned, (list, tuple)) else [returned]
    if not items or not all(isinstance(item, Optimizer) for item in items):
        source = "agent.configure_optimizers()" if optimizer is None else "`optimizer`"
        raise TypeError(
            f"{source} must give an afnio.optim.Optimizer (or a list of them), but gave "
            f"{type(returned).__name__}. Pass optimizer=TGD(agent.parameters(), ...)."
        )
    return items


class TuningSession:
    """Run, feedback, step, accept/reject, versions and comparisons on one agent and batch.

    Args:
        agent: An :class:`afnio.cognitive.Module` implementing ``training_step`` (and
            ``configure_optimizers`` unless ``optimizer`` is given).
        batch: One batch, as a DataLoader yields it.
        optimizer: The optimizer (or list of optimizers) to use instead of
            ``agent.configure_optimizers()``.
        on_call: Called with each model-call record an optimizer step makes (forward and
            backward calls are announced by graph events).

    Raises:
        TypeError: For an agent that is not a Module, or no Optimizer.
        ValueError: For an agent that optimizes by hand, without parameters, or a batch that
            cannot be split into examples.
        AttributeError: If the agent does not implement ``training_step``.
    """

    def __init__(
        self,
        agent: Module,
        batch: Any,
        optimizer: Any = None,
        on_call: Callable[[Any], None] | None = None,
    ) -> None:
        if not isinstance(agent, Module):
            raise TypeError(
                f"`agent` must be an afnio.cognitive.Module, but got {type(agent).__name__}."
            )
        if getattr(type(agent), "training_step", None) is Module.training_step:
            raise AttributeError(
                f"`agent` ({type(agent).__name__}) must implement training_step(batch, "
                "batch_idx), returning {'loss': (score, explanation), ...}."
            )
        if not agent.automatic_optimization:
            raise ValueError(
                "`agent` has automatic_optimization = False: its training_step() runs backward "
                "and the optimizer itself, so the tuner cannot stop between them. Use an agent "
                "with automatic optimization."
            )
        self.samples = uncollate(batch)
        self.batch = batch
        self.agent = agent
        self.parameters = dict(agent.named_parameters())
        if not self.parameters:
            raise ValueError(f"`agent` ({type(agent).__name__}) has no Parameter to tune.")
        self.optimizers = _optimizers(agent, optimizer)
        self.on_call = on_call
        self.lock = threading.RLock()
        self.versions: list[dict[str, Any]] = []
        self.version = self._new_version("initial")
        self.runs: list[dict[str, Any]] = []
        self.last_run: dict[str, Any] | None = None
        self.feedback_result: dict[str, Any] | None = None
        self.proposal: dict[str, Any] | None = None
        self.comparison: dict[str, Any] | None = None
        self._parts: list[StepPart] = []
        self._fed_back = False
        self._optimizer_states: list[dict[Any, Any]] = []

    # -- versions -------------------------------------------------------------------------------
    def texts(self) -> dict[str, str]:
        """The current text of every parameter."""
        return {name: as_text(p) for name, p in self.parameters.items()}

    def _new_version(self, source: str) -> int:
        """Records the current texts as a version. The last run's feedback is about the texts
        before, so it is dropped (with the parameters' gradients)."""
        if getattr(self, "feedback_result", None) is not None:
            self.feedback_result = None
            self._clear_grads()
        number = len(self.versions)
        parent = getattr(self, "version", None)
        self.versions.append(
            {"version": number, "texts": self.texts(), "source": source, "parent": parent}
        )
        return number

    def _check_version(self, version: Any, argname: str = "version") -> int:
        if isinstance(version, bool) or not isinstance(version, int):
            raise TypeError(f"`{argname}` must be a version number (int), but got {version!r}.")
        if not 0 <= version < len(self.versions):
            raise ValueError(
                f"`{argname}` must be between 0 and {len(self.versions) - 1} (the versions in "
                f"history), but got {version}."
            )
        return version

    def _apply(self, texts: Mapping[str, str]) -> None:
        for name, text in texts.items():
            self.parameters[name].data = text

    def set_text(self, name: str, text: str, source: str = "edit") -> int:
        """Sets a parameter's text in the kernel; the agent's texts become a new version."""
        with self.lock:
            if name not in self.parameters:
                raise KeyError(
                    f"No parameter named {name!r}; the agent's parameters are "
                    f"{sorted(self.parameters)!r}."
                )
            if not isinstance(text, str):
                raise TypeError(f"`text` must be a str, but got {type(text).__name__}.")
            if text == as_text(self.parameters[name]):
                return self.version
            self.parameters[name].data = text
            self.version = self._new_version(source)
            return self.version

    def revert(self, version: int) -> int:
        """Restores every parameter to its text in ``version`` (a new version, noted as a
        restore), and drops a pending proposal."""
        with self.lock:
            self._check_version(version)
            self._drop_proposal()
            target = self.versions[version]["texts"]
            if target == self.texts():
                return self.version
            self._apply(target)
            self.version = self._new_version(f"restore of v{version}")
            return self.version

    # -- run ------------------------------------------------------------------------------------
    def _clear_grads(self) -> None:
        for optimizer in self.optimizers:
            optimizer.clear_grad()

    def _execute(self) -> tuple[dict[str, Any], list[StepPart]]:
        """One run with the current texts, recorded in the history (not made current)."""
        self.agent.train()
        parts = run_step(self.agent.training_step, self.batch, self.samples)
        rows = rows_of(self.samples, parts)
        failed = sum(1 for row in rows if row["error"])
        run = {
            "run": len(self.runs) + 1,
            "version": self.version,
            "rows": rows,
            "metrics": mean_metrics(parts),
            "failed": failed,
            "per_example": len(parts) > 1,
        }
        self.runs.append(run)
        self.versions[self.version].setdefault("runs", []).append(
            {"run": run["run"], "metrics": run["metrics"], "failed": failed}
        )
        return run, parts

    def run(self) -> dict[str, Any]:
        """Forward and evaluation on the batch with the current texts (one ``training_step``).

        If the batch fails, each example is run alone (concurrently), so that a failed model
        call shows its error in its own row while the other rows fill.

        Returns:
            ``{"run", "version", "rows", "metrics", "failed", "per_example"}``; each row is
            ``{"index", "input", "output", "target", "score", "explanation", "error"}``.
        """
        with self.lock:
            self._drop_proposal()
            self._clear_grads()
            run, parts = self._execute()
            self.last_run, self._parts = run, parts
            self.feedback_result = None
            self._fed_back = False
            return run

    # -- feedback ---------------------------------------------------------------------------------
    def feedback(self) -> dict[str, Any]:
        """``backward()`` from the last run's explanation(s): each parameter's gradients, split
        by the example they came from.

        Returns:
            ``{"run", "parameters": {name: [{"example", "text"}]}}``; ``example`` is ``None``
            for feedback about the whole batch.

        Raises:
            RuntimeError: Without a run, when no example of the run succeeded, or when the run's
                feedback was already computed (its graph is freed; run again).
        """
        with self.lock:
            if self.last_run is None:
                raise RuntimeError("No run yet: call run() before feedback().")
            if self.last_run["version"] != self.version:
                raise RuntimeError(
                    f"Run {self.last_run['run']} was made with v{self.last_run['version']}, but "
                    f"the parameters are now v{self.version}. Call run() again for feedback on "
                    "the current texts."
                )
            if self._fed_back:
                raise RuntimeError(
                    f"The feedback of run {self.last_run['run']} was already computed and its "
                    "graph freed. Call run() again for new feedback."
                )
            parts = [p for p in self._parts if p.explanation is not None]
            if not parts:
                raise RuntimeError(
                    f"Every example of run {self.last_run['run']} failed: there is no "
                    "explanation to run backward() from. Fix the errors and run again."
                )
            if not any(p.explanation.requires_grad for p in parts if p.explanation is not None):
                raise RuntimeError(
                    "The explanation returned by training_step() does not require grad: no "
                    "parameter that requires grad led to it. Check that the agent's parameters "
                    "are used in the step."
                )
            self._clear_grads()
            self._drop_proposal()
            found: dict[str, list[dict[str, Any]]] = {name: [] for name in self.parameters}
            for part in parts:
                counts = {name: len(p.grad) for name, p in self.parameters.items()}
                assert part.explanation is not None
                if part.explanation.requires_grad:
                    part.explanation.backward()
                for name, p in self.parameters.items():
                    for grad in p.grad[counts[name] :]:
                        found[name].extend(attribute_gradient(grad, part.indices))
            self._fed_back = True
            calls = []
            for part in parts:
                assert part.explanation is not None
                calls.extend(call_to_dict(r) for r in graph_calls(part.explanation, "backward"))
            self.feedback_result = {
                "run": self.last_run["run"],
                "parameters": found,
                "calls": calls,
            }
            return self.feedback_result

    def explanations(self) -> list[Variable]:
        """The explanations of the last run (one, or one per example that ran alone)."""
        with self.lock:
            return [p.explanation for p in self._parts if p.explanation is not None]

    # -- step -----------------------------------------------------------------------------------
    def _drop_proposal(self) -> None:
        if self.proposal is not None:
            for optimizer, saved in zip(self.optimizers, self._optimizer_states):
                optimizer.state.clear()
                optimizer.state.update(saved)
        self.proposal = None
        self._optimizer_states = []

    def step(self) -> dict[str, Any]:
        """Asks the optimizer for new texts from the gradients; nothing changes until
        :meth:`accept`.

        Returns:
            ``{"parameters": {name: {"before", "after"}}, "calls": [...]}`` for every parameter
            the optimizer rewrote (``after`` equal to ``before`` when it kept the text).

        Raises:
            RuntimeError: Before :meth:`feedback`, or when no parameter has feedback.
        """
        with self.lock:
            if self.feedback_result is None:
                raise RuntimeError("No feedback yet: call run() and feedback() before step().")
            if not any(self.feedback_result["parameters"].values()):
                raise RuntimeError(
                    "No parameter received feedback in the last run, so the optimizer has "
                    "nothing to act on. Run on examples the agent gets wrong."
                )
            self._drop_proposal()
            before = self.texts()
            saved = [copy.deepcopy(dict(o.state)) for o in self.optimizers]
            started = [len(getattr(o, "calls", [])) for o in self.optimizers]
            try:
                for optimizer in self.optimizers:
                    optimizer.step()
            except BaseException:
                self._apply(before)
                for optimizer, state in zip(self.optimizers, saved):
                    optimizer.state.clear()
                    optimizer.state.update(state)
                raise
            after = self.texts()
            self._apply(before)  # a proposal, not applied until accept()
            calls = []
            for optimizer, start in zip(self.optimizers, started):
                for record in list(getattr(optimizer, "calls", []))[start:]:
                    calls.append(call_to_dict(record))
                    if self.on_call is not None:
                        self.on_call(record)
            rewritten = {
                name: {"before": before[name], "after": after[name]}
                for name, items in self.feedback_result["parameters"].items()
                if items
            }
            self._optimizer_states = saved
            self.proposal = {"parameters": rewritten, "calls": calls}
            return self.proposal

    def accept(self, edits: Mapping[str, str] | None = None) -> int:
        """Applies the pending proposal (with ``edits`` replacing proposed texts by name).

        Returns:
            The new version's number.

        Raises:
            RuntimeError: Without a pending proposal.
            KeyError: For an edit of a parameter that is not in the proposal.
        """
        with self.lock:
            if self.proposal is None:
                raise RuntimeError("No proposal to accept: call step() first.")
            proposed = {n: p["after"] for n, p in self.proposal["parameters"].items()}
            edits = dict(edits or {})
            unknown = sorted(set(edits) - set(proposed))
            if unknown:
                raise KeyError(
                    f"`edits` names {unknown!r}, which the proposal does not rewrite; it "
                    f"rewrites {sorted(proposed)!r}."
                )
            for name, text in edits.items():
                if not isinstance(text, str):
                    raise TypeError(
                        f"`edits[{name!r}]` must be a str, but got {type(text).__name__}."
                    )
            edited = any(edits[n] != proposed[n] for n in edits)
            proposed.update(edits)
            self._apply(proposed)
            self.proposal = None  # the optimizer's state after the step is kept
            self._optimizer_states = []
            self.version = self._new_version("edited proposal" if edited else "proposal")
            return self.version

    def reject(self) -> None:
        """Drops the pending proposal: texts and the optimizer's state stay as before step()."""
        with self.lock:
            if self.proposal is None:
                raise RuntimeError("No proposal to reject: call step() first.")
            self._drop_proposal()

    # -- compare ----------------------------------------------------------------------------------
    def compare(self, v1: int, v2: int) -> dict[str, Any]:
        """Runs the batch with the texts of version ``v1`` and of ``v2`` and sets the results
        side by side, the examples whose output or score differ first. The current texts are
        put back afterwards.

        Returns:
            ``{"versions": [v1, v2], "runs": [run1, run2], "metrics": [m1, m2], "rows": [...]}``
            where each row is ``{"index", "input", "target", "differs", "sides": [a, b]}`` and
            each side ``{"output", "score", "explanation", "error"}``.
        """
        with self.lock:
            self._check_version(v1, "v1")
            self._check_version(v2, "v2")
            self._drop_proposal()
            current, current_version = self.texts(), self.version
            grads = {name: list(p.grad) for name, p in self.parameters.items()}
            runs = []
            try:
                for version in (v1, v2):
                    self._apply(self.versions[version]["texts"])
                    self.version = version
                    self._clear_grads()
                    run, _ = self._execute()
                    runs.append(run)
            finally:
                self._apply(current)
                self.version = current_version
                for name, p in self.parameters.items():  # the feedback shown stays usable
                    p.grad[:] = grads[name]
            rows = []
            for a, b in zip(runs[0]["rows"], runs[1]["rows"]):
                sides = [
                    {k: row[k] for k in ("output", "score", "explanation", "error")}
                    for row in (a, b)
                ]
                differs = (a["output"], a["score"], a["error"]) != (
                    b["output"],
                    b["score"],
                    b["error"],
                )
                rows.append(
                    {
                        "index": a["index"],
                        "input": a["input"],
                        "target": a["target"] if a["target"] is not None else b["target"],
                        "differs": differs,
                        "sides": sides,
                    }
                )
            rows.sort(key=lambda row: (not row["differs"], row["index"]))
            self.comparison = {
                "versions": [v1, v2],
                "runs": [r["run"] for r in runs],
                "metrics": [r["metrics"] for r in runs],
                "rows": rows,
            }
            return self.comparison

    # -- views ------------------------------------------------------------------------------------
    def history(self) -> list[dict[str, Any]]:
        """Every version: ``{"version", "texts", "source", "parent", "runs"}`` where ``runs``
        lists ``{"run", "metrics", "failed"}`` of the runs made with it."""
        with self.lock:
            return [{**v, "runs": list(v.get("runs", []))} for v in copy.deepcopy(self.versions)]

    def parameter_rows(self) -> list[dict[str, Any]]:
        """``[{"name", "role", "text"}]`` for the view."""
        return [
            {"name": name, "role": p.role or "", "text": as_text(p), "preview": preview(p.data)}
            for name, p in self.parameters.items()
        ]
