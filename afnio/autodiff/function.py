"""Custom differentiable operations: :class:`Function` and its backward nodes."""

from __future__ import annotations

import inspect
import weakref
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from afnio._recording import recording_to
from afnio._variable import Variable, allow_grad_fn_assignment
from afnio.autodiff import graph
from afnio.autodiff.grad_mode import is_grad_enabled, no_grad
from afnio.autodiff.graph import Node

__all__ = ["BackwardFunction", "Function", "FunctionCtx", "apply_in_place"]

FREED_GRAPH_ERROR = (
    "Trying to backward through the graph a second time (or directly access saved variables "
    "after they have already been freed). Saved intermediate values of the graph are freed when "
    "you call .backward(). Specify retain_graph=True if you need to backward through the graph "
    "a second time or if you need to access saved variables after calling backward."
)


_ATOMS = frozenset({str, int, float, bool, type(None)})
"""Argument types that cannot hold a Variable."""


def _iter_variables(value: Any) -> Iterator[Variable]:
    """Yields the Variables in ``value``, looking inside lists, tuples and dict values."""
    if isinstance(value, Variable):
        yield value
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _iter_variables(item)
    elif isinstance(value, dict):
        for item in value.values():
            yield from _iter_variables(item)


class FunctionCtx:
    """The context object passed as ``ctx`` to ``forward``/``setup_context`` and ``backward``.

    Store Variables needed by backward with :meth:`save_for_backward`; any other attribute may be
    set freely (``ctx.sep = sep``).
    """

    needs_input_grad: tuple[bool, ...]
    """Per argument of ``apply``: whether a Variable in it requires grad."""

    if TYPE_CHECKING:
        # Any attribute may be stored on ctx (``ctx.sep = sep``) and read back in backward.
        def __getattr__(self, name: str) -> Any: ...
        def __setattr__(self, name: str, value: Any) -> None: ...

    def save_for_backward(self, *values: Any) -> None:
        """Saves values (Variables or anything else) for ``backward``, in order."""
        self._saved = values
        self._saved_released = False

    @property
    def saved_variables(self) -> tuple[Any, ...]:
        """The values given to :meth:`save_for_backward`, in order.

        Raises:
            RuntimeError: After a backward pass freed them (without ``retain_graph=True``).
        """
        if getattr(self, "_saved_released", False):
            raise RuntimeError(FREED_GRAPH_ERROR)
        return getattr(self, "_saved", ())

    saved_tensors = saved_variables  # PyTorch spelling


class BackwardFunction(Node, FunctionCtx):
    """The backward node of a :class:`Function` call, named ``<Function>Backward0``.

    It is also the ``ctx`` of that call, as in PyTorch.
    """

    _forward_cls: type[Function]

    def __init__(self) -> None:
        super().__init__()
        self._released = False
        self._inputs: tuple[Variable, ...] = ()
        self._outputs: tuple[weakref.ref[Variable], ...] = ()
        self._arg_layout: tuple[int | None, ...] = ()

    def apply(self, *grad_outputs: Any) -> Any:
        """Runs the Function's ``backward`` (which may return a coroutine)."""
        if self._released:
            raise RuntimeError(FREED_GRAPH_ERROR)
        return self._forward_cls.backward(self, *grad_outputs)

    def _release(self) -> None:
        self._released = True
        if hasattr(self, "_saved"):
            self._saved = ()
            self._saved_released = True

    @property
    def input_variables(self) -> tuple[Variable, ...]:
        return self._inputs

    @property
    def output_variables(self) -> tuple[Variable | None, ...]:
        return tuple(ref() for ref in self._outputs)

    def _map_grad_inputs(self, result: Any) -> tuple[Variable | None, ...]:
        """Aligns what ``backward`` returned with :attr:`next_functions`.

        Two layouts are accepted: one gradient per input Variable (Variables nested in lists and
        dicts counted one by one), or one per argument of ``forward`` where non-Variable
        arguments get ``None`` and containers expand to their Variables. Extra trailing ``None``
        values (for arguments left to their defaults) are ignored.
        """
        if not isinstance(result, (tuple, list)):
            result = (result,)
        n_edges = len(self._next_functions)
        name = self.name()
        # Trailing Nones for arguments that were left to their defaults are fine.
        result = list(result)
        while len(result) > max(n_edges, len(self._arg_layout)) and result[-1] is None:
            result.pop()
        if len(result) == n_edges:
            grads = tuple(result)
        elif len(result) == len(self._arg_layout):
            grads_list = []
            for value, slot in zip(result, self._arg_layout):
                if slot is None:
                    if value is not None:
                        raise RuntimeError(
                            f"Function {name} returned a gradient for an argument that is not a "
                            f"Variable: {value!r:.80}."
                        )
                else:
                    grads_list.append(value)
            grads = tuple(grads_list)
        else:
            raise RuntimeError(
                f"Function {name} returned an incorrect number of gradients (expected "
                f"{n_edges}, or {len(self._arg_layout)} counting non-Variable arguments, "
                f"got {len(result)})."
            )
        for grad in grads:
            if grad is not None and not isinstance(grad, Variable):
                raise TypeError(
                    f"Function {name} returned a gradient of type {type(grad).__name__}; "
                    "gradients must be Variables or None."
                )
        return grads


class Function:
    """Base class for differentiable operations on Variables, as ``torch.autograd.Function``.

    Subclass it and implement the static methods ``forward`` and ``backward``, then call
    ``MyFunction.apply(...)``. ``forward`` comes in two styles: ``forward(ctx, *args, **kwargs)``
    storing what backward needs on ``ctx``, or ``forward(*args, **kwargs)`` together with
    ``setup_context(ctx, inputs, output)``. ``backward(ctx, *grad_outputs)`` receives one
    gradient Variable (or ``None``) per output and returns one gradient (or ``None``) per input.
    Either method may be ``async def``: the engine runs coroutine backward functions
    concurrently.

    Variables passed inside lists, tuples or dicts (such as chat ``messages``) are inputs too:
    each gets its own edge in the graph.

    Example:
        >>> import afnio
        >>> from afnio.autodiff.function import Function
        >>> class Reverse(Function):
        ...     @staticmethod
        ...     def forward(ctx, x):
        ...         ctx.role = x.role
        ...         return afnio.Variable(x.data[::-1], role=f"reversed {x.role}")
        ...     @staticmethod
        ...     def backward(ctx, grad_output):
        ...         text = f"Feedback on the reversed {ctx.role}: {grad_output.data}"
        ...         return afnio.Variable(text, role=f"feedback to {ctx.role}")
        >>> x = afnio.Variable("abc", role="word", requires_grad=True)
        >>> y = Reverse.apply(x)
        >>> y.data, y.grad_fn.name()
        ('cba', 'ReverseBackward0')
        >>> y.backward(afnio.Variable("more letters", role="feedback"))
        >>> x.grad[0].data
        'Feedback on the reversed word: more letters'
    """

    _backward_cls: type[BackwardFunction]
    _is_evaluator = False
    # Built-in text ops: cheap and pure (they call no model), so their backward runs inline on
    # the engine's thread and neither pass routes model-call records for them.
    _inline_backward = False

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        name = f"{cls.__name__}Backward0"
        cls._backward_cls = type(
            name, (BackwardFunction,), {"_forward_cls": cls, "__module__": __name__}
        )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise RuntimeError(
            f"{type(self)} should not be instantiated. Methods on autodiff functions are all "
            "static, so you should invoke them on the class itself. Instantiating an autodiff "
            "function is not allowed."
        )

    @staticmethod
    def forward(*args: Any, **kwargs: Any) -> Any:
        """Computes the outputs (a Variable or a tuple of Variables) from the inputs."""
        raise NotImplementedError(
            "You must implement the forward function for custom autodiff.Function."
        )

    @staticmethod
    def setup_context(ctx: FunctionCtx, inputs: tuple[Any, ...], output: Any) -> None:
        """Stores what backward needs, when ``forward`` does not take ``ctx``.

        ``inputs`` holds the positional arguments of ``apply`` followed by the values of its
        keyword arguments, in call order.
        """
        raise NotImplementedError("setup_context is not implemented.")

    @staticmethod
    def backward(ctx: FunctionCtx, *grad_outputs: Any) -> Any:
        """Computes one gradient (Variable or ``None``) per input from the output gradients."""
        raise NotImplementedError(
            "You must implement the backward for your custom autodiff.Function to use it with "
            "backward mode AD (automatic differentiation)."
        )

    @classmethod
    def apply(cls, *args: Any, **kwargs: Any) -> Any:
        """Runs ``forward`` and, if any input requires gradients and grad mode is on, records a
        ``<Name>Backward0`` node as the outputs' ``grad_fn``.

        Returns:
            A Variable, or a tuple of Variables when ``forward`` returns several.
        """
        if cls is Function:
            raise RuntimeError("Function.apply must be called on a subclass of Function.")
        ctx = cls._backward_cls()
        inputs: list[Variable] = []
        layout: list[int | None] = []
        needs_input_grad: list[bool] = []
        for value in (*args, *kwargs.values()) if kwargs else args:
            if isinstance(value, Variable):  # the common case, without the generic walk
                inputs.append(value)
                layout.append(1)
                needs_input_grad.append(value._requires_grad)
                continue
            if type(value) in _ATOMS:  # a separator, a count...: no Variable inside
                layout.append(None)
                needs_input_grad.append(False)
                continue
            found = list(_iter_variables(value))
            if isinstance(value, (list, tuple, dict)):
                layout.extend([1] * len(found))
            else:
                layout.append(1 if found else None)
            inputs.extend(found)
            needs_input_grad.append(any(v._requires_grad for v in found))
        ctx.needs_input_grad = tuple(needs_input_grad)
        ctx._arg_layout = tuple(layout)

        with no_grad(), recording_to(None if cls._inline_backward else ctx._record_call, "forward"):
            if cls.setup_context is not Function.setup_context:
                output = cls.forward(*args, **kwargs)
                output = _resolve(output)
                cls.setup_context(ctx, (*args, *kwargs.values()), output)
            else:
                output = _resolve(cls.forward(ctx, *args, **kwargs))

        outputs = _check_outputs(cls, output, inputs)
        record = True in ctx.needs_input_grad and is_grad_enabled()
        if record:
            ctx._next_functions = tuple([graph.edge_to(v) for v in inputs])
            calling = graph.calling_module.get()
            if calling is not None:
                ctx.metadata["module"] = calling[1]
            ctx._inputs = tuple(inputs)
            ctx._outputs = tuple([weakref.ref(o) for o in outputs])
            for i, out in enumerate(outputs):
                # What the grad_fn setter allows Function.apply alone to do, without its checks:
                # the output is fresh (see _check_outputs) and requires grad from here on.
                out._requires_grad = True
                out._grad_fn = ctx
                out._output_nr = i
            graph.emit("node_created", node=ctx, inputs=tuple(inputs), outputs=outputs)
        else:
            for out in outputs:
                out._requires_grad = False
            if graph.has_observers():
                graph.emit(
                    "op_without_grad",
                    name=ctx.name(),
                    inputs=tuple(inputs),
                    outputs=outputs,
                )
        if isinstance(output, Variable):
            return outputs[0]
        return outputs


def apply_in_place(cls: type[Function], target: Variable, *args: Any) -> Variable:
    """Runs ``cls.apply(*args)`` and writes its single output into ``target``, as torch's
    in-place operations do (``x += y`` is ``apply_in_place(Add, x, x, y)``).

    With a graph recorded, ``target`` takes the output's place: its ``grad_fn`` becomes the new
    node (whose edges lead to ``target``'s previous history) and it requires grad. Without one
    (grad mode off, or no input requires grad), only its data and role change: ``target`` keeps
    its flags and its ``grad_fn``, so they always agree.

    Raises:
        RuntimeError: If grad mode is on and ``target`` is a leaf that requires grad: changing it
            would lose the gradient of its old value (``torch`` refuses the same). Nothing is
            changed.
    """
    if target.requires_grad and target.grad_fn is None and is_grad_enabled():
        raise RuntimeError(
            f"A leaf Variable that requires grad (role {target.role!r}) is being used in an "
            "in-place operation. Write `x = x + y` to keep the leaf and its gradient, or change "
            "it under `afnio.no_grad()`."
        )
    result = cls.apply(*args)
    if not isinstance(result, Variable):
        raise TypeError(f"{cls.__name__} has several outputs; it cannot run in place.")
    target._data = result._data
    target.role = result.role
    node = result.grad_fn
    if node is not None:
        if isinstance(node, BackwardFunction):
            node._outputs = tuple(
                weakref.ref(target) if ref() is result else ref for ref in node._outputs
            )
        target._requires_grad = True
        with allow_grad_fn_assignment():
            target.grad_fn = node
        target._output_nr = result.output_nr
    return target


def _resolve(output: Any) -> Any:
    if isinstance(output, (Variable, tuple)):
        return output
    if inspect.isawaitable(output):
        from afnio._runtime import run_sync

        async def wait() -> Any:
            return await output

        return run_sync(wait())
    return output


def _check_outputs(cls: type, output: Any, inputs: list[Variable]) -> tuple[Variable, ...]:
    items = (output,) if isinstance(output, Variable) else output
    if not isinstance(items, (tuple, list)) or not items:
        raise TypeError(
            f"{cls.__name__}.forward must return a Variable or a tuple of Variables, but got "
            f"{type(output).__name__}."
        )
    outputs = []
    for item in items:
        if not isinstance(item, Variable):
            raise TypeError(
                f"{cls.__name__}.forward must return a Variable or a tuple of Variables, but "
                f"got an item of type {type(item).__name__}."
            )
        held = item._grad_fn is not None
        if not held:
            for v in inputs:
                if v is item:
                    held = True
                    break
        if held:
            # Never rewire a Variable the caller already holds: return a fresh one.
            item = Variable(item.data, role=item.role)
        outputs.append(item)
    return tuple(outputs)
