"""The :class:`Split` op module."""

from __future__ import annotations

from typing import Any

from afnio._variable import Variable
from afnio.cognitive import functional as F
from afnio.cognitive.modules.module import Module

__all__ = ["Split"]


def _as_variable(value: Any) -> Variable | None:
    if value is None or isinstance(value, Variable):
        return value
    return Variable(value)


class Split(Module):
    """Splits text into parts (see :func:`afnio.cognitive.functional.split`).

    The separator and the split limit of the last call are kept as buffers ``sep`` and
    ``maxsplit``.

    Example:
        >>> import afnio, afnio.cognitive as cog
        >>> split = cog.Split()
        >>> [part.data for part in split(afnio.Variable("a-b-c"), sep="-", maxsplit=1)]
        ['a', 'b-c']
        >>> split.sep.data
        '-'
    """

    sep: Variable | None
    maxsplit: Variable | None

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("sep", None)
        self.register_buffer("maxsplit", None)

    def forward(self, x: Variable, sep: Any = None, maxsplit: Any = -1) -> tuple[Variable, ...]:
        """Splits ``x`` on ``sep`` (whitespace when ``None``) at most ``maxsplit`` times."""
        self.sep = _as_variable(sep)
        self.maxsplit = _as_variable(maxsplit)
        return F.split(x, self.sep, self.maxsplit)
