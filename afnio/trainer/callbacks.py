"""The Trainer's callback interface: :class:`Callback` and :class:`ParameterChange`.

Subclass :class:`Callback`, override the hooks you need, and pass instances to
``Trainer(callbacks=[...])``. Hooks run in the order the callbacks were given, on the thread that
called ``fit``/``validate``/``test``; an exception raised by a hook stops the run (checkpoints
already written stay valid, so ``fit(ckpt_path=...)`` can resume).

Epoch numbers are 1-based everywhere; ``batch_idx`` is 0-based within its epoch. Metric dicts map
names (``"loss"`` first) to floats.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from afnio.cognitive.modules.module import Module
    from afnio.trainer.trainer import Trainer

__all__ = ["Callback", "ParameterChange"]


class ParameterChange(NamedTuple):
    """How one parameter changed during a training batch.

    Attributes:
        name: The parameter's dotted name in the agent (as in ``agent.named_parameters()``).
        before: Its data before the batch's optimisation.
        after: Its data after it.
    """

    name: str
    before: Any
    after: Any


class Callback:
    """Base class of Trainer callbacks; every hook does nothing by default.

    Example:
        >>> from afnio.trainer import Callback
        >>> class PrintChanges(Callback):
        ...     def on_optimizer_step(self, trainer, agent, changes):
        ...         for change in changes:
        ...             print(f"{change.name}: {change.before!r} -> {change.after!r}")
    """

    def on_fit_start(self, trainer: Trainer, agent: Module) -> None:
        """Called when ``fit`` starts (after a checkpoint, if any, was restored)."""

    def on_fit_end(self, trainer: Trainer, agent: Module) -> None:
        """Called when ``fit`` finished every epoch."""

    def on_train_epoch_start(self, trainer: Trainer, agent: Module, epoch: int) -> None:
        """Called before the training batches of ``epoch`` (also when resuming mid-epoch)."""

    def on_optimizer_step(
        self, trainer: Trainer, agent: Module, changes: list[ParameterChange]
    ) -> None:
        """Called after each training batch's optimisation, with the parameters whose data
        changed (possibly none).

        With automatic optimisation this follows ``optimizer.step()``; with manual optimisation
        it follows ``training_step`` (which stepped the optimizer itself). Not called for
        skipped batches.
        """

    def on_train_batch_end(
        self, trainer: Trainer, agent: Module, metrics: dict[str, float] | None, batch_idx: int
    ) -> None:
        """Called after each training batch, once its checkpoint is written.

        ``metrics`` is ``None`` for a batch whose ``training_step`` returned ``None`` (skipped).
        """

    def on_validation_end(self, trainer: Trainer, agent: Module, metrics: dict[str, float]) -> None:
        """Called after a validation pass (in ``fit``, every epoch; and in ``validate``)."""

    def on_train_epoch_end(self, trainer: Trainer, agent: Module, metrics: dict[str, Any]) -> None:
        """Called at the end of an epoch (after validation and the epoch checkpoint) with the
        epoch's record: ``{"epoch", "train", "val", "cost", "batches", "skipped_batches"}``."""

    def on_test_end(self, trainer: Trainer, agent: Module, metrics: dict[str, float]) -> None:
        """Called after ``test``."""


class CallbackList:
    """Calls a hook on every callback, in order."""

    def __init__(self, callbacks: list[Callback]) -> None:
        self.callbacks = callbacks

    def __call__(self, hook: str, *args: Any) -> None:
        for callback in self.callbacks:
            getattr(callback, hook)(*args)
