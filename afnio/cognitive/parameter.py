"""The :class:`Parameter`: a Variable that a Module registers as trainable."""

from __future__ import annotations

from typing import Any

from afnio._variable import Variable

__all__ = ["Parameter"]


class Parameter(Variable):
    """A :class:`~afnio.Variable` that is a trainable member of a Module.

    Assigning a Parameter as an attribute of a :class:`~afnio.cognitive.Module` registers it, so
    that it shows up in ``parameters()`` and ``state_dict()``. Unlike a Variable it requires
    gradients by default, and grad mode does not affect its creation.

    Args:
        data: The value (see :class:`~afnio.Variable`).
        role: What the value is for; optimizers show it to the model that rewrites the value.
        requires_grad: Whether it receives gradients (default ``True``).

    Example:
        >>> import afnio
        >>> from afnio.cognitive import Parameter
        >>> with afnio.no_grad():
        ...     p = Parameter("Answer in one word.", role="system prompt")
        >>> p.requires_grad
        True
    """

    def __init__(self, data: Any = None, role: Any = None, requires_grad: bool = True) -> None:
        super().__init__(data=data, role=role, requires_grad=requires_grad)

    def __repr__(self) -> str:
        return "Parameter containing:\n  " + super().__repr__()

    def __deepcopy__(self, memo: dict) -> Parameter:
        if id(self) in memo:
            return memo[id(self)]
        import copy

        result = type(self)(copy.deepcopy(self.data, memo), self.role, self.requires_grad)
        memo[id(self)] = result
        return result
