"""The :class:`Add` op module."""

from __future__ import annotations

from afnio._variable import Variable
from afnio.cognitive import functional as F
from afnio.cognitive.modules.module import Module

__all__ = ["Add"]


class Add(Module):
    """Adds two Variables (see :func:`afnio.cognitive.functional.add`).

    Example:
        >>> import afnio, afnio.cognitive as cog
        >>> cog.Add()(afnio.Variable("abc"), afnio.Variable("def")).data
        'abcdef'
    """

    def forward(self, x: Variable, y: Variable) -> Variable:
        """Returns ``x + y``."""
        return F.add(x, y)
