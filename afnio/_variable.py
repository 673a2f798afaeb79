"""The :class:`Variable`: text, numbers, or batches of them, tracked by autodiff."""

from __future__ import annotations

import copy
import threading
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from afnio._data import (
    JAGGED,
    Data,
    leaves,
    map_leaves,
    shape_of,
    validate_and_normalize_data,
)

if TYPE_CHECKING:
    from afnio.autodiff.graph import Node, RemovableHandle

__all__ = ["JAGGED", "Variable", "is_scalar_variable", "is_variable"]

_grad_fn_assignment = threading.local()


@contextmanager
def allow_grad_fn_assignment() -> Iterator[None]:
    """Lets the autodiff machinery (and only it) set ``Variable.grad_fn`` in this thread."""
    previous = getattr(_grad_fn_assignment, "allowed", False)
    _grad_fn_assignment.allowed = True
    try:
        yield
    finally:
        _grad_fn_assignment.allowed = previous


def _short(text: str, limit: int = 40) -> str:
    """``text``, or its first and last ``limit // 2`` characters around ``...`` if longer."""
    half = limit // 2
    return text if len(text) <= limit else f"{text[:half]}...{text[-half:]}"


def _preview(data: Any, limit: int) -> str:
    """``data`` for printing: strings quoted and cut, lists of more than six items elided."""
    if isinstance(data, str):
        return repr(_short(data, limit))
    if isinstance(data, list):
        items = [_preview(x, limit) for x in data]
        if len(items) > 6:
            items = [*items[:3], "...", *items[-3:]]
        return "[" + ", ".join(items) + "]"
    return repr(data)


class Variable:
    """A value tracked by afnio's autodiff: text, a number, or a (nested) list of them (a batch).

    A Variable plays the role of ``torch.Tensor``. Operations on Variables that require gradients
    record a backward graph; ``backward()`` then walks it and every leaf that requires gradients
    receives *textual* gradients: Variables holding feedback on how it should change.

    Args:
        data: A string, a number, ``None`` (a missing sample) or a possibly nested list of them.
            The non-``None`` items of a list must be all strings or all numbers; in a mixed list of
            ints and floats every int becomes a float.
        role: What the value is for ("system prompt", "answer to the user"); language models use it
            as context when they write feedback and updates.
        requires_grad: Whether operations on this Variable are recorded for autodiff.

    Raises:
        TypeError: If ``data`` has an unsupported type, mixes strings and numbers, or contains a
            tuple.

    Example:
        >>> import afnio
        >>> x = afnio.Variable("Hello", role="greeting", requires_grad=True)
        >>> y = afnio.Variable(" world", role="subject")
        >>> z = x + y
        >>> z.data, z.grad_fn.name()
        ('Hello world', 'AddBackward0')
    """

    def __init__(self, data: Any = "", role: str = "", requires_grad: bool = False) -> None:
        if not isinstance(requires_grad, bool):
            raise TypeError(
                f"`requires_grad` must be a bool, but got {type(requires_grad).__name__}: "
                f"{requires_grad!r}."
            )
        self._data: Data = validate_and_normalize_data(data)
        self.role = role
        self._requires_grad = requires_grad
        self._retain_grad = False
        # The gradient list is made on first use: most Variables of a graph never receive one,
        # and every container is one more object for the garbage collector to track.
        self._grad: list[Variable] | None = None
        self._output_nr = 0
        self._grad_fn: Node | None = None
        self._hooks: dict[int, Callable[[Variable], Variable | None]] | None = None
        # A weak reference to the leaf's AccumulateGrad node, once one exists.
        self._accumulator: weakref.ref[Node] | None = None
        self.variable_id: str | None = None

    # -- data ----------------------------------------------------------------------------------
    @property
    def data(self) -> Any:
        """The raw value: ``str``, ``int``, ``float``, ``bool``, ``None`` or a nested list."""
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        self._data = validate_and_normalize_data(value)

    @property
    def role(self) -> str:
        """What the value is for, in words ("system prompt"); models read it when they write
        feedback and updates."""
        return self._role

    @role.setter
    def role(self, role: str) -> None:
        if role is not None and not isinstance(role, str):
            raise TypeError(f"`role` must be a str, but got {type(role).__name__}: {role!r}.")
        self._role = role

    @property
    def shape(self) -> tuple:
        """NumPy-style shape of :attr:`data`.

        A scalar (or ``None``) has shape ``()``; a list has its length first. Rectangular nesting
        gives the full shape; below the first level whose lengths differ every dimension is
        :data:`afnio.JAGGED` (shown as ``j``).

        Example:
            >>> import afnio
            >>> afnio.Variable([[1, 2], [3, 4]]).shape
            (2, 2)
            >>> afnio.Variable([[1, 2], [3]]).shape
            (2, j)
        """
        return shape_of(self._data)

    # -- autodiff flags ------------------------------------------------------------------------
    @property
    def requires_grad(self) -> bool:
        """Whether operations on this Variable are recorded so that it can receive gradients."""
        return self._requires_grad

    @requires_grad.setter
    def requires_grad(self, mode: bool) -> None:
        if not isinstance(mode, bool):
            raise TypeError(
                f"`requires_grad` must be a bool, but got {type(mode).__name__}: {mode!r}."
            )
        if self._grad_fn is not None and mode != self._requires_grad:
            raise RuntimeError(
                "You can only change `requires_grad` flags of leaf variables. If you want to use "
                "a computed variable in a subgraph that doesn't require differentiation, use "
                "`var_no_grad = var.detach()`."
            )
        self._requires_grad = mode

    def requires_grad_(self, mode: bool = True) -> Variable:
        """Sets :attr:`requires_grad` in place and returns ``self``.

        Raises:
            TypeError: If ``mode`` is not a bool.
            RuntimeError: If this is a non-leaf Variable (produced by an operation); detach it
                first.
        """
        self.requires_grad = mode
        return self

    @property
    def is_leaf(self) -> bool:
        """``True`` for Variables created by the user (or not requiring grad); ``False`` for
        Variables produced by an operation that recorded a backward node."""
        return not self._requires_grad or self._grad_fn is None

    @property
    def grad_fn(self) -> Node | None:
        """The backward :class:`~afnio.Node` that produced this Variable, or ``None``.

        Only :meth:`Function.apply <afnio.autodiff.function.Function.apply>` may set it.
        """
        return self._grad_fn

    @grad_fn.setter
    def grad_fn(self, node: Node | None) -> None:
        if not getattr(_grad_fn_assignment, "allowed", False):
            raise AttributeError(
                "Direct assignment to `grad_fn` is not allowed. Use Function.apply() to "
                "construct Variables with a grad_fn."
            )
        if node is not None and not self._requires_grad:
            raise RuntimeError(
                "Cannot set `grad_fn` on a variable that does not require gradients. "
                "Call `requires_grad_()` first."
            )
        self._grad_fn = node

    @property
    def output_nr(self) -> int:
        """Index of this Variable among the outputs of the operation that produced it."""
        return self._output_nr

    @output_nr.setter
    def output_nr(self, n: int) -> None:
        if isinstance(n, bool) or not isinstance(n, int) or n < 0:
            raise TypeError(
                f"`output_nr` can only be an int greater or equal to 0, but {n!r} is of type "
                f"{type(n).__name__}."
            )
        self._output_nr = n

    # -- gradients -----------------------------------------------------------------------------
    def _check_grad_access(self, verb: str) -> None:
        if not self.is_leaf and not self._retain_grad:
            raise RuntimeError(
                f"Attempted to {verb} `grad` for a non-leaf Variable without `retain_grad` "
                "enabled. Non-leaf Variables do not keep their gradients by default; call "
                "`.retain_grad()` on it before `backward()` if you need them."
            )

    @property
    def grad(self) -> list[Variable]:
        """The gradients received so far: a list of Variables holding feedback.

        Every backward pass *appends* one entry per path that reaches this Variable; textual
        gradients are never summed. Clear the list (``optimizer.zero_grad()``) between steps.

        Raises:
            RuntimeError: On a non-leaf Variable that did not call :meth:`retain_grad`.
        """
        self._check_grad_access("access")
        return self._grads()

    @grad.setter
    def grad(self, value: list[Variable]) -> None:
        if not isinstance(value, list) or not all(isinstance(g, Variable) for g in value):
            raise TypeError(
                "`grad` expects a list of Variables for the gradient to accumulate, but got "
                f"{type(value).__name__}: {value!r:.80}."
            )
        self._check_grad_access("set")
        self._grad = value

    def _grads(self) -> list[Variable]:
        """The gradient list, made on first use (the engine appends to it)."""
        grads = self._grad
        if grads is None:
            grads = self._grad = []
        return grads

    def append_grad(self, gradient: Variable) -> None:
        """Appends ``gradient`` to :attr:`grad` in place (the list object is kept).

        Raises:
            TypeError: If ``gradient`` is not a Variable.
            RuntimeError: On a non-leaf Variable that did not call :meth:`retain_grad`.
        """
        if not isinstance(gradient, Variable):
            raise TypeError(
                f"`gradient` must be a Variable, but got {type(gradient).__name__}: "
                f"{gradient!r:.80}."
            )
        self._check_grad_access("append to")
        self._grads().append(gradient)

    def retain_grad(self) -> None:
        """Makes this non-leaf Variable keep the gradients it receives in :attr:`grad`.

        Raises:
            RuntimeError: On a leaf Variable (leaves always keep their gradients).
        """
        if self.is_leaf:
            raise RuntimeError("Cannot call `retain_grad` on a leaf variable")
        self._retain_grad = True

    @property
    def retains_grad(self) -> bool:
        """Whether this non-leaf Variable keeps its gradients (see :meth:`retain_grad`)."""
        return self._retain_grad and not self.is_leaf

    def register_hook(self, hook: Callable[[Variable], Variable | None]) -> RemovableHandle:
        """Registers ``hook(grad)``, called with every gradient this Variable receives.

        The hook runs during ``backward()`` before the gradient is stored (leaves, retained
        non-leaves) or passed on. It may return a Variable to use instead, or ``None`` to keep the
        gradient. Like PyTorch's ``Tensor.register_hook``.

        Returns:
            A handle whose ``remove()`` unregisters the hook.

        Raises:
            RuntimeError: If this Variable does not require grad.
            TypeError: If ``hook`` is not callable.

        Example:
            >>> import afnio
            >>> import afnio.cognitive.functional as F
            >>> x = afnio.Variable("draft", role="draft", requires_grad=True)
            >>> seen = []
            >>> handle = x.register_hook(lambda g: seen.append(g.data))
            >>> F.sum([x]).backward(afnio.Variable("shorter", role="feedback"))
            >>> len(seen)
            1
            >>> handle.remove()
        """
        from afnio.autodiff.graph import RemovableHandle

        if not callable(hook):
            raise TypeError(f"`hook` must be callable, but got {type(hook).__name__}.")
        if not self._requires_grad:
            raise RuntimeError(
                "Cannot register a hook on a variable that doesn't require gradient."
            )
        if self._hooks is None:
            self._hooks = {}
        return RemovableHandle(self._hooks, hook)

    def backward(
        self,
        gradient: Variable | None = None,
        retain_graph: bool | None = None,
        create_graph: bool = False,
        inputs: Any = None,
    ) -> None:
        """Computes textual gradients of this Variable with respect to the graph leaves.

        See :func:`afnio.autodiff.backward` for the full semantics.

        Args:
            gradient: The feedback on this Variable, a Variable. It can be omitted for the outputs
                of evaluators (which produce their own feedback) and for scalar data.
            retain_graph: Keep the graph so that backward can run through it again. Defaults to
                ``create_graph``.
            create_graph: Run the backward functions with grad mode enabled.
            inputs: Leaves (Variables or gradient edges) to accumulate gradients into; others are
                left untouched.

        Raises:
            RuntimeError: If this Variable does not require grad or has no ``grad_fn``.
        """
        if self.is_leaf:
            raise RuntimeError("Variable does not require grad or does not have a grad_fn.")
        from afnio.autodiff.engine import backward

        backward(self, gradient, retain_graph, create_graph, inputs=inputs)

    # -- copies --------------------------------------------------------------------------------
    def detach(self) -> Variable:
        """Returns a new leaf Variable with the same data and role, outside any graph."""
        return Variable(copy.deepcopy(self._data), role=self.role, requires_grad=False)

    def detach_(self) -> Variable:
        """Detaches this Variable from the graph in place (as ``torch.Tensor.detach_``): it
        becomes a leaf that does not require grad. Returns ``self``.

        Example:
            >>> import afnio
            >>> y = afnio.Variable("a", requires_grad=True) + afnio.Variable("b")
            >>> y.detach_() is y, y.grad_fn, y.requires_grad, y.is_leaf
            (True, None, False, True)
        """
        with allow_grad_fn_assignment():
            self.grad_fn = None
        self._requires_grad = False
        self._output_nr = 0
        self._retain_grad = False
        return self

    def clone(self) -> Variable:
        """Returns a copy of this Variable that stays in the graph (as ``torch.Tensor.clone``):
        gradients reaching the copy flow back to this Variable (``grad_fn=<CloneBackward0>``).

        Example:
            >>> import afnio
            >>> x = afnio.Variable("draft", role="draft", requires_grad=True)
            >>> y = x.clone()
            >>> y.data, y.role, y.grad_fn.name()
            ('draft', 'draft', 'CloneBackward0')
            >>> y.backward(afnio.Variable("shorter", role="feedback to draft"))
            >>> x.grad[0].data
            'shorter'
        """
        from afnio.autodiff.basic_ops import Clone

        result: Variable = Clone.apply(self)
        return result

    def copy_(self, src: Variable) -> Variable:
        """Copies ``src``'s data, role and ``requires_grad`` into this Variable, in place.

        Raises:
            TypeError: If ``src`` is not a Variable.
            ValueError: If the shapes of the two data differ.
        """
        if not isinstance(src, Variable):
            raise TypeError(f"`src` must be a Variable, but got {type(src).__name__}.")
        if self.shape != src.shape:
            raise ValueError(f"Cannot copy data: shape mismatch ({self.shape} vs {src.shape}).")
        self._data = copy.deepcopy(src._data)
        self.role = src.role
        if self._grad_fn is None:
            self._requires_grad = src._requires_grad
        return self

    def is_floating_point(self) -> bool:
        """``True`` if the data is a float, or a non-empty list whose non-``None`` items are all
        floats."""
        if isinstance(self._data, list):
            items = [x for x in leaves(self._data) if x is not None]
            return bool(items) and all(isinstance(x, float) for x in items)
        return isinstance(self._data, float)

    def to(self, dtype: Callable[[Any], Any] | None = None) -> Variable:
        """Returns a new Variable (same role and ``requires_grad``, outside the graph) with every
        item cast by ``dtype`` (``None`` items stay ``None``); ``dtype=None`` copies.

        Example:
            >>> import afnio
            >>> afnio.Variable([1, 2]).to(float).data
            [1.0, 2.0]
        """
        if dtype is not None and not callable(dtype):
            raise TypeError(f"`dtype` must be a type or callable, but got {dtype!r}.")
        data = copy.deepcopy(self._data) if dtype is None else map_leaves(self._data, dtype)
        return Variable(data, role=self.role, requires_grad=self._requires_grad)

    def __deepcopy__(self, memo: dict) -> Variable:
        if not self.is_leaf:
            raise RuntimeError(
                "Only Variables created explicitly by the user (graph leaves) support the "
                "deepcopy protocol at the moment."
            )
        if id(self) in memo:
            return memo[id(self)]
        new = type(self).__new__(type(self))
        memo[id(self)] = new
        for key, value in self.__dict__.items():
            if key in ("_hooks", "_accumulator"):  # the copy gets its own node when it needs one
                new.__dict__[key] = None
            else:
                new.__dict__[key] = copy.deepcopy(value, memo)
        return new

    def __reduce_ex__(self, protocol: Any) -> tuple:
        from afnio.serialization import _rebuild_variable

        state = {
            "data": self._data,
            "role": self.role,
            "requires_grad": self._requires_grad,
            "grad": list(self._grad or ()),
            "retain_grad": self._retain_grad,
            "output_nr": self._output_nr,
        }
        return (_rebuild_variable, (type(self), state))

    # -- operators -----------------------------------------------------------------------------
    def __add__(self, other: Variable) -> Variable:
        if not isinstance(other, Variable):
            raise TypeError("Only Variables can be added to each other.")
        from afnio.autodiff.basic_ops import Add

        return Add.apply(self, other)

    def __iadd__(self, other: Variable) -> Variable:
        """``self += other``: adds in place, keeping this object (see ``docs/autodiff.md``).

        Raises:
            TypeError: If ``other`` is not a Variable.
            RuntimeError: If grad mode is on and this is a leaf that requires grad (as in
                torch); nothing is changed.
        """
        if not isinstance(other, Variable):
            raise TypeError("Only Variables can be added to each other.")
        from afnio.autodiff.basic_ops import Add
        from afnio.autodiff.function import apply_in_place

        return apply_in_place(Add, self, self, other)

    # -- printing ------------------------------------------------------------------------------
    def __repr__(self) -> str:
        """``Variable(data='…', role='…', requires_grad=True)`` the torch way: quoted, long
        texts cut in the middle, lists elided, and the flag shown only when set (``grad_fn=<…>``
        for a non-leaf)."""
        parts = [f"data={_preview(self._data, 60)}", f"role={_short(self.role or '', 40)!r}"]
        if self._grad_fn is not None:
            parts.append(f"grad_fn=<{self._grad_fn.name()}>")
        elif self._requires_grad:
            parts.append("requires_grad=True")
        return f"Variable({', '.join(parts)})"

    def __str__(self) -> str:
        shown = _preview(self._data, 40)
        if self._grad_fn is not None:
            return f"variable({shown}, role={self.role}, grad_fn={self._grad_fn.name()})"
        return f"variable({shown}, role={self.role}, requires_grad={self._requires_grad})"


def is_variable(obj: Any) -> bool:
    """Returns ``True`` if ``obj`` is an afnio :class:`Variable` (or a subclass)."""
    return isinstance(obj, Variable)


def is_scalar_variable(obj: Any) -> bool:
    """Returns ``True`` for a Variable whose data is a single ``str``, ``int``, ``float`` or
    ``bool`` (not ``None`` and not a list)."""
    return isinstance(obj, Variable) and isinstance(obj.data, (str, int, float))
