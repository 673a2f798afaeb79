"""A local, Lightning-style training loop: :class:`Trainer` and its :class:`Callback` interface.

Not imported by ``import afnio``: use ``from afnio.trainer import Trainer``.
"""

from afnio.trainer.callbacks import Callback, ParameterChange
from afnio.trainer.trainer import Trainer, get_batch_size

__all__ = ["Callback", "ParameterChange", "Trainer", "get_batch_size"]

assert __all__ == sorted(__all__)
