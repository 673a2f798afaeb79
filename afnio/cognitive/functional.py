"""The functional API: every afnio operation as a plain function.

Also available as ``afnio.functional``; conventionally imported as ``F``.
"""

from __future__ import annotations

from typing import Any

from afnio._variable import Variable
from afnio.autodiff.basic_ops import Add, Split, Sum

__all__ = ["add", "split", "sum"]


def add(x: Variable, y: Variable) -> Variable:
    """Adds two Variables (see :class:`afnio.autodiff.basic_ops.Add`).

    Example:
        >>> import afnio
        >>> import afnio.cognitive.functional as F
        >>> F.add(afnio.Variable(1), afnio.Variable(2)).data
        3
    """
    return Add.apply(x, y)


def sum(x: list[Variable]) -> Variable:
    """Aggregates a list of Variables (see :class:`afnio.autodiff.basic_ops.Sum`).

    Example:
        >>> import afnio
        >>> import afnio.cognitive.functional as F
        >>> a = afnio.Variable("Hello,", requires_grad=True)
        >>> b = afnio.Variable("world!", requires_grad=True)
        >>> F.sum([a, b]).grad_fn.name()
        'SumBackward0'
    """
    return Sum.apply(x)


def split(x: Variable, sep: Any = None, maxsplit: Any = -1) -> tuple[Variable, ...]:
    """Splits text into parts (see :class:`afnio.autodiff.basic_ops.Split`).

    Example:
        >>> import afnio
        >>> import afnio.cognitive.functional as F
        >>> [p.data for p in F.split(afnio.Variable("a b c"), " ")]
        ['a', 'b', 'c']
    """
    return Split.apply(x, sep, maxsplit)
