"""A local, Lightning-style training loop: :class:`Trainer` and its :class:`Callback` interface.

Not imported by ``import afnio``: use ``from afnio.trainer import Trainer``.
"""

from afnio.trainer._metrics import StepOutputError, parse_step_output
from afnio.trainer.callbacks import Callback, ParameterChange
from afnio.trainer.trainer import Trainer, get_batch_size

__all__ = [
    "Callback",
    "ParameterChange",
    "StepOutputError",
    "Trainer",
    "get_batch_size",
    "parse_step_output",
]
