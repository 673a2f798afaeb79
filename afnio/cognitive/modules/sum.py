"""The :class:`Sum` op module."""

from __future__ import annotations

from afnio._variable import Variable
from afnio.cognitive import functional as F
from afnio.cognitive.modules.module import Module

__all__ = ["Sum"]


class Sum(Module):
    """Aggregates a list of Variables (see :func:`afnio.cognitive.functional.sum`).

    Example:
        >>> import afnio, afnio.cognitive as cog
        >>> cog.Sum()([afnio.Variable(1), afnio.Variable(2.5)]).data
        3.5
    """

    def forward(self, x: list[Variable]) -> Variable:
        """Returns the aggregate of ``x``."""
        return F.sum(x)
