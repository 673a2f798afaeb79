"""The :class:`Trainer`: a local, Lightning-style training loop for afnio agents."""

from __future__ import annotations

import copy
import functools
import json
import logging
import math
import os
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from afnio.autodiff.grad_mode import no_grad
from afnio.cognitive.modules.module import Module
from afnio.optim.optimizer import Optimizer
from afnio.tellurio.run import get_active_run
from afnio.trainer import _checkpoint
from afnio.trainer._metrics import CostMeter, RunningMeans, parse_step_output
from afnio.trainer._steps import STEP_MAX_RETRIES, get_batch_size, retry, run_training_step
from afnio.trainer.callbacks import Callback, CallbackList
from afnio.trainer.progress import ProgressBar, format_metrics

__all__ = ["STEP_MAX_RETRIES", "Trainer", "get_batch_size"]

logger = logging.getLogger("afnio.trainer")


@dataclass
class _EpochState:
    """Where ``fit`` is within an epoch (saved in checkpoints to resume)."""

    epoch: int = 1
    batches_done: int = 0
    means: RunningMeans = field(default_factory=RunningMeans)
    cost: float = 0.0
    trained: int = 0
    skipped: int = 0


def _length(loader: Any) -> int | None:
    try:
        return len(loader)
    except TypeError:
        return None


class Trainer:
    """Trains, validates and tests agents: fully local, no account, no server.

    The agent (a :class:`~afnio.cognitive.Module`) implements ``training_step``,
    ``configure_optimizers`` and, as needed, ``validation_step`` and ``test_step``. A step returns
    ``(score, explanation)``, a dict with ``"loss"`` holding that pair (other entries are extra
    metrics, numbers or lists of numbers), or ``None`` to skip the batch. Metrics are averaged over
    the batches that reported them; ``"loss"`` is the score's data.

    With ``agent.automatic_optimization`` (the default), each training batch runs
    ``optimizer.clear_grad()``, ``training_step``, ``explanation.backward()`` and
    ``optimizer.step()``; otherwise ``training_step`` does the last two itself (use
    ``agent.optimizers()``). A failing batch is retried (3 attempts in all), with the parameters
    put back as they were before each new attempt.

    Args:
        max_epochs: Number of epochs (``None`` or 0: 10).
        enable_checkpointing: Write a checkpoint after every training batch and every epoch under
            ``{default_root_dir}/checkpoints`` (see :mod:`afnio.trainer._checkpoint`).
        enable_progress_bar: Show ``tqdm`` progress bars.
        enable_agent_summary: Print the agent before training.
        default_root_dir: Where checkpoints and ``metrics.jsonl`` go (default: the current
            directory).
        callbacks: :class:`~afnio.trainer.Callback` instances, called in order.
        enable_metrics_log: Append every batch's and epoch's metrics as JSON lines to
            ``{default_root_dir}/metrics.jsonl``.

    Attributes:
        total_cost: USD spent by the ``llm_clients`` during this Trainer's runs.
        current_epoch: The 1-based epoch in progress (0 before ``fit``).
        global_step: Training batches processed so far (skipped ones included).
        history: One record per finished epoch (see :meth:`fit`).
        last_checkpoint_path: The latest checkpoint written, if any.

    Raises:
        TypeError: If ``max_epochs`` is not an int or a callback is not a Callback.
        ValueError: If ``max_epochs`` is negative.

    Example:
        >>> from afnio.trainer import Trainer
        >>> trainer = Trainer(max_epochs=3, enable_checkpointing=False, enable_progress_bar=False)
        >>> trainer.max_epochs, trainer.total_cost
        (3, 0.0)
    """

    def __init__(
        self,
        *,
        max_epochs: int | None = None,
        enable_checkpointing: bool = True,
        enable_progress_bar: bool = True,
        enable_agent_summary: bool = True,
        default_root_dir: str | os.PathLike[str] | None = None,
        callbacks: list[Callback] | None = None,
        enable_metrics_log: bool = True,
    ) -> None:
        if max_epochs is not None and (
            isinstance(max_epochs, bool) or not isinstance(max_epochs, int)
        ):
            raise TypeError(f"`max_epochs` must be an int or None, but got {max_epochs!r}.")
        if max_epochs is not None and max_epochs < 0:
            raise ValueError(f"`max_epochs` must be >= 0, but got {max_epochs}.")
        callbacks = list(callbacks or [])
        for callback in callbacks:
            if not isinstance(callback, Callback):
                raise TypeError(
                    "Every callback must be an afnio.trainer.Callback, but got "
                    f"{type(callback).__name__}."
                )
        self.max_epochs: int = max_epochs or 10
        self.enable_checkpointing = enable_checkpointing
        self.enable_progress_bar = enable_progress_bar
        self.enable_agent_summary = enable_agent_summary
        self.enable_metrics_log = enable_metrics_log
        self.default_root_dir = (
            os.getcwd() if default_root_dir is None else os.fspath(default_root_dir)
        )
        self.callbacks = callbacks
        self._call = CallbackList(self.callbacks)
        self.total_cost = 0.0
        self.current_epoch = 0
        self.global_step = 0
        self.history: list[dict[str, Any]] = []
        self.last_checkpoint_path: str | None = None
        self._single_optimizer = True

    @property
    def metrics_path(self) -> str:
        """``{default_root_dir}/metrics.jsonl``."""
        return os.path.join(self.default_root_dir, "metrics.jsonl")

    # -- checks ----------------------------------------------------------------------------------
    @staticmethod
    def _check_agent(agent: Any) -> None:
        if not isinstance(agent, Module):
            raise TypeError(
                f"`agent` must be an afnio.cognitive.Module, but got {type(agent).__name__}."
            )

    @staticmethod
    def _check_loader(loader: Any, name: str) -> None:
        if loader is None:
            raise ValueError(f"{name} must be provided.")
        if not isinstance(loader, Iterable):
            raise TypeError(
                f"`{name}` must be a DataLoader or an iterable of batches, but got "
                f"{type(loader).__name__}."
            )

    @staticmethod
    def _require(agent: Module, hook: str) -> None:
        if getattr(type(agent), hook, None) is getattr(Module, hook):
            raise AttributeError(f"Your agent must implement {hook}().")

    # -- fit -------------------------------------------------------------------------------------
    def fit(
        self,
        agent: Module,
        train_dataloader: Iterable[Any] | None = None,
        val_dataloader: Iterable[Any] | None = None,
        ckpt_path: str | os.PathLike[str] | None = None,
        llm_clients: list[Any] | None = None,
    ) -> dict[str, Any]:
        """Trains ``agent`` for ``max_epochs`` epochs, validating after each one.

        Args:
            agent: The agent to train.
            train_dataloader: The training batches (re-iterable, e.g. a DataLoader).
            val_dataloader: Validation batches, run after every epoch (under ``no_grad``).
            ckpt_path: A checkpoint to resume from (or ``"last"``: the newest one under
                ``default_root_dir``): the agent's and optimizers' states, the position (epoch
                and batch), running metrics, costs and history are restored, and the batches
                already done in that epoch are skipped. With a seeded (or unshuffled)
                DataLoader, the result equals an uninterrupted run's.
            llm_clients: Model clients whose cost to count (forward, backward, optimizer); each
                distinct client counts once. Their usage is read, never cleared.

        Returns:
            ``{"epochs": [...], "train": {...}, "val": {...}, "total_cost": float,
            "global_step": int, "last_checkpoint": str | None}`` where each epoch record is
            ``{"epoch", "train", "val", "cost", "batches", "skipped_batches"}`` (``"val"``
            only with a validation loader), and ``"train"``/``"val"`` repeat the last epoch's.

        Raises:
            TypeError: For a non-Module agent, non-iterable loaders, a bad ``ckpt_path`` or
                ``llm_clients``, or ``configure_optimizers()`` returning no Optimizer.
            ValueError: Without ``train_dataloader``, for an empty batch, or a step returning
                something else than documented.
            AttributeError: If the agent lacks a needed hook.
            RuntimeError: If a batch still fails after 3 attempts.
        """
        self._check_agent(agent)
        self._check_loader(train_dataloader, "train_dataloader")
        assert train_dataloader is not None
        if val_dataloader is not None:
            self._check_loader(val_dataloader, "val_dataloader")
        if ckpt_path is not None and not isinstance(ckpt_path, (str, os.PathLike)):
            raise TypeError(
                f"`ckpt_path` must be a str or os.PathLike, but got {type(ckpt_path).__name__}."
            )
        self._require(agent, "training_step")
        self._require(agent, "configure_optimizers")
        if val_dataloader is not None:
            self._require(agent, "validation_step")
        meter = CostMeter(llm_clients)

        if self.enable_agent_summary:
            print(f"{agent}\n")
        returned = agent.configure_optimizers()
        optimizers = self._as_optimizers(returned)
        agent._optimizers = returned
        self.history = []
        self.global_step = 0
        state = _EpochState()
        if ckpt_path is not None:
            state = self._resume(agent, optimizers, ckpt_path, train_dataloader)

        self._call("on_fit_start", self, agent)
        meter.reset()
        while state.epoch <= self.max_epochs:
            self._fit_epoch(agent, optimizers, train_dataloader, val_dataloader, state, meter)
            state = _EpochState(epoch=state.epoch + 1)
        self._call("on_fit_end", self, agent)
        last = self.history[-1] if self.history else {}
        return {
            "epochs": copy.deepcopy(self.history),
            "train": dict(last.get("train", {})),
            "val": dict(last.get("val", {})),
            "total_cost": self.total_cost,
            "global_step": self.global_step,
            "last_checkpoint": self.last_checkpoint_path,
        }

    @staticmethod
    def _as_optimizers(returned: Any) -> list[Optimizer]:
        items = list(returned) if isinstance(returned, (list, tuple)) else [returned]
        if not items or not all(isinstance(item, Optimizer) for item in items):
            raise TypeError(
                "configure_optimizers() must return an afnio.optim.Optimizer (or a list of "
                f"them), but got {type(returned).__name__}."
            )
        return items

    def _resume(
        self, agent: Module, optimizers: list[Optimizer], ckpt_path: Any, loader: Any
    ) -> _EpochState:
        if ckpt_path == "last":
            path = _checkpoint.find_last_checkpoint(self.default_root_dir)
        else:
            path = os.fspath(ckpt_path)
        checkpoint = _checkpoint.read_checkpoint(path)
        removed = _checkpoint.remove_interrupted_writes(self.default_root_dir)
        if removed:
            logger.info(
                "Removed %d temporary file(s) of interrupted checkpoint writes.", len(removed)
            )
        _checkpoint.restore_agent(agent, checkpoint["agent_state_dict"])
        _checkpoint.restore_optimizers(optimizers, checkpoint["optimizer_state_dict"])
        saved = checkpoint["trainer_state"]
        self.total_cost = float(saved["total_cost"])
        self.global_step = int(saved["global_step"])
        self.history = list(saved["history"])
        random.setstate(saved["random_state"])
        self._rollback_metrics_log(saved.get("metrics_log_size"))
        state = _EpochState(
            epoch=int(saved["epoch"]),
            batches_done=int(saved["batches_done"]),
            means=RunningMeans.from_state(saved["train_means"]),
            cost=float(saved["epoch_cost"]),
            trained=int(saved["batches"]),
            skipped=int(saved["skipped_batches"]),
        )
        if (
            state.batches_done
            and getattr(loader, "shuffle", False)
            and getattr(loader, "seed", 0) is None
        ):
            logger.warning(
                "Resuming mid-epoch with a shuffling DataLoader without a seed: the batches "
                "already done cannot be identified, so the rest of epoch %d may repeat or miss "
                "samples. Give the DataLoader a seed for exact resumption.",
                state.epoch,
            )
        logger.info(
            "Resuming from %s at epoch %d, batch %d.", path, state.epoch, state.batches_done
        )
        return state

    def _fit_epoch(
        self,
        agent: Module,
        optimizers: list[Optimizer],
        train_loader: Iterable[Any],
        val_loader: Iterable[Any] | None,
        state: _EpochState,
        meter: CostMeter,
    ) -> None:
        epoch = state.epoch
        self.current_epoch = epoch
        agent.train()
        self._call("on_train_epoch_start", self, agent, epoch)
        desc = f"Epoch {epoch}/{self.max_epochs} [train]"
        total = _length(train_loader)
        with ProgressBar(total, desc, self.enable_progress_bar, state.batches_done) as bar:
            for batch_idx, batch in enumerate(train_loader):
                if batch_idx < state.batches_done:
                    continue  # done before the interruption
                get_batch_size(batch)
                metrics, changes = run_training_step(agent, optimizers, batch, batch_idx)
                spent = meter.spent()
                meter.reset()
                state.cost += spent
                self.total_cost += spent
                if metrics is None:
                    state.skipped += 1
                else:
                    state.trained += 1
                    state.means.add(metrics)
                    self._call("on_optimizer_step", self, agent, changes)
                state.batches_done = batch_idx + 1
                self.global_step += 1
                self._log_event(
                    {
                        "event": "train_batch",
                        "epoch": epoch,
                        "batch": batch_idx,
                        "metrics": metrics,
                        "total_cost": self.total_cost,
                    }
                )
                if self.enable_checkpointing:
                    path = _checkpoint.batch_checkpoint_path(
                        self.default_root_dir, epoch, batch_idx
                    )
                    self._save(path, agent, optimizers, epoch, batch_idx, state)
                bar.advance(format_metrics(self.total_cost, {"train": state.means.means()}))
                self._call("on_train_batch_end", self, agent, metrics, batch_idx)

        record: dict[str, Any] = {"epoch": epoch, "train": state.means.means()}
        if val_loader is not None:
            desc = f"Epoch {epoch}/{self.max_epochs} [val]"
            val_metrics, spent = self._evaluate(agent, val_loader, "validation_step", desc, meter)
            state.cost += spent
            record["val"] = val_metrics
            self._call("on_validation_end", self, agent, val_metrics)
        record.update(cost=state.cost, batches=state.trained, skipped_batches=state.skipped)
        self.history.append(record)
        self._log_event({"event": "epoch", **record, "total_cost": self.total_cost})
        self._log_to_run(epoch, record)
        logger.info(
            "Epoch %d/%d: %s",
            epoch,
            self.max_epochs,
            format_metrics(
                self.total_cost, {k: record[k] for k in ("train", "val") if k in record}
            ),
        )
        if self.enable_checkpointing:
            path = _checkpoint.epoch_checkpoint_path(self.default_root_dir, epoch)
            self._save(path, agent, optimizers, epoch, None, _EpochState(epoch=epoch + 1))
        self._call("on_train_epoch_end", self, agent, copy.deepcopy(record))

    def _save(
        self,
        path: str,
        agent: Module,
        optimizers: list[Optimizer],
        epoch: int,
        batch: int | None,
        state: _EpochState,
    ) -> None:
        states = [optimizer.state_dict() for optimizer in optimizers]
        payload = {
            "version": _checkpoint.CHECKPOINT_VERSION,
            "epoch": epoch,
            "batch": batch,
            "agent_state_dict": agent.state_dict(),
            "optimizer_state_dict": states[0] if len(states) == 1 else states,
            "trainer_state": {
                "epoch": state.epoch,
                "batches_done": state.batches_done,
                "train_means": state.means.state(),
                "epoch_cost": state.cost,
                "batches": state.trained,
                "skipped_batches": state.skipped,
                "total_cost": self.total_cost,
                "global_step": self.global_step,
                "history": copy.deepcopy(self.history),
                "random_state": random.getstate(),
                "metrics_log_size": self._metrics_log_size(),
            },
        }
        _checkpoint.write_checkpoint(self.default_root_dir, path, payload)
        self.last_checkpoint_path = path
        logger.debug("Checkpoint written: %s", path)

    # -- evaluation ---------------------------------------------------------------------------
    def _evaluate(
        self, agent: Module, loader: Iterable[Any], step_name: str, desc: str, meter: CostMeter
    ) -> tuple[dict[str, float], float]:
        agent.eval()
        step = getattr(agent, step_name)
        prefix = "val" if step_name == "validation_step" else "test"
        means = RunningMeans()
        spent_total = 0.0
        with no_grad(), ProgressBar(_length(loader), desc, self.enable_progress_bar) as bar:
            for batch_idx, batch in enumerate(loader):
                get_batch_size(batch)
                output = retry(functools.partial(step, batch, batch_idx), step_name)
                parsed = parse_step_output(output, step_name)
                spent = meter.spent()
                meter.reset()
                spent_total += spent
                self.total_cost += spent
                if parsed is not None:
                    means.add(parsed[0])
                bar.advance(format_metrics(self.total_cost, {prefix: means.means()}))
        return means.means(), spent_total

    def _run_evaluation(
        self, agent: Module, loader: Any, llm_clients: Any, kind: str
    ) -> dict[str, float]:
        step_name = "validation_step" if kind == "val" else "test_step"
        loader_name = "val_dataloader" if kind == "val" else "test_dataloader"
        self._check_agent(agent)
        self._check_loader(loader, loader_name)
        self._require(agent, step_name)
        meter = CostMeter(llm_clients)
        desc = "Validation" if kind == "val" else "Test"
        metrics, spent = self._evaluate(agent, loader, step_name, desc, meter)
        event = "validate" if kind == "val" else "test"
        self._log_event(
            {"event": event, "metrics": metrics, "cost": spent, "total_cost": self.total_cost}
        )
        hook = "on_validation_end" if kind == "val" else "on_test_end"
        self._call(hook, self, agent, metrics)
        return metrics

    def validate(
        self,
        agent: Module,
        val_dataloader: Iterable[Any] | None = None,
        llm_clients: list[Any] | None = None,
    ) -> dict[str, float]:
        """Runs ``validation_step`` over ``val_dataloader`` (eval mode, ``no_grad``).

        Returns:
            The averaged metrics, e.g. ``{"loss": 0.8, "accuracy": 0.8}``.

        Raises:
            ValueError: Without ``val_dataloader``.
            TypeError: For a non-Module agent or a non-iterable loader.
            AttributeError: If the agent does not implement ``validation_step``.
            RuntimeError: If a batch still fails after 3 attempts.
        """
        return self._run_evaluation(agent, val_dataloader, llm_clients, "val")

    def test(
        self,
        agent: Module,
        test_dataloader: Iterable[Any] | None = None,
        llm_clients: list[Any] | None = None,
    ) -> dict[str, float]:
        """Runs ``test_step`` over ``test_dataloader`` (eval mode, ``no_grad``).

        Returns:
            The averaged metrics.

        Raises:
            ValueError, TypeError, AttributeError, RuntimeError: As :meth:`validate`.
        """
        return self._run_evaluation(agent, test_dataloader, llm_clients, "test")

    # -- metrics log -----------------------------------------------------------------------------
    def _metrics_log_size(self) -> int | None:
        if not self.enable_metrics_log:
            return None
        try:
            return os.path.getsize(self.metrics_path)
        except FileNotFoundError:
            return 0

    def _rollback_metrics_log(self, size: Any) -> None:
        """Drops the lines logged after the checkpoint being resumed: their batches run again,
        so that every batch appears in ``metrics.jsonl`` exactly once."""
        if not self.enable_metrics_log or not isinstance(size, int):
            return
        try:
            current = os.path.getsize(self.metrics_path)
        except FileNotFoundError:
            return
        if current > size:
            with open(self.metrics_path, "r+b") as handle:
                handle.truncate(size)
            logger.info(
                "metrics.jsonl rolled back to the checkpoint (%d bytes dropped).", current - size
            )

    def _log_to_run(self, epoch: int, record: dict[str, Any]) -> None:
        """Logs the epoch's means to the active ``afnio.tellurio`` run, if one was started (as
        afnio 0.3.7's Trainer did); without one nothing is logged there."""
        run = get_active_run()
        if run is None:
            return
        for split in ("train", "val"):
            for name, value in (record.get(split) or {}).items():
                if isinstance(value, (int, float)) and math.isfinite(value):
                    run.log(f"{split}_{name}", value, step=epoch)
        run.log("total_cost", self.total_cost, step=epoch)

    def _log_event(self, event: dict[str, Any]) -> None:
        if not self.enable_metrics_log:
            return
        os.makedirs(self.default_root_dir, exist_ok=True)
        line = json.dumps({**event, "time": time.time()}, default=str)
        with open(self.metrics_path, "a", encoding="utf-8") as handle:
            handle.write(line + "\n")
