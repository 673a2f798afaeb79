"""The backward graph: nodes, gradient edges, hooks, and graph events for observers."""

from __future__ import annotations

import bisect
import contextlib
import contextvars
import itertools
import logging
import operator
import threading
import weakref
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, TypeVar, get_args

if TYPE_CHECKING:
    from afnio._variable import Variable
    from afnio.models.records import ModelCall

__all__ = [
    "EVENT_KINDS",
    "AccumulateGrad",
    "EventKind",
    "GradientEdge",
    "GraphEvent",
    "Node",
    "RemovableHandle",
    "get_gradient_edge",
    "register_graph_observer",
    "suppress_graph_events",
]

logger = logging.getLogger(__name__)

T = TypeVar("T")

_handle_ids = itertools.count()
_sequence_nrs = itertools.count()
_calls_lock = threading.Lock()  # model calls land on nodes from several threads


# The Module being called, and its dotted path from the outermost one ("Agent.chat"): nodes
# created inside get it as metadata["module"], so that viewers can fold sub-modules.
calling_module: contextvars.ContextVar[tuple[Any, str] | None] = contextvars.ContextVar(
    "afnio_calling_module", default=None
)


class RemovableHandle:
    """A handle returned by ``register_hook``-style methods; ``remove()`` unregisters the hook.

    Also a context manager that removes the hook on exit.
    """

    def __init__(self, registry: dict[int, Any], hook: Any) -> None:
        self.id = next(_handle_ids)
        self._registry = registry
        registry[self.id] = hook

    def remove(self) -> None:
        """Unregisters the hook. Calling it again does nothing."""
        self._registry.pop(self.id, None)

    def __enter__(self) -> RemovableHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.remove()

    def __repr__(self) -> str:
        return f"<RemovableHandle id={self.id}>"


class GradientEdge(NamedTuple):
    """Where a gradient goes during backward: a backward ``node`` and one of its outputs.

    ``node`` is ``None`` for an input that does not require gradients. Use
    :func:`get_gradient_edge` to get the edge of a Variable.
    """

    node: Node | None
    output_nr: int

    def __repr__(self) -> str:
        if self.node is None:
            return f"(None, {self.output_nr})"
        return f"({self.node}, {self.output_nr})"

    def __str__(self) -> str:
        return self.__repr__()


class Node:
    """Base class for nodes of the backward graph.

    A node stands for one operation of the forward pass and produces, during ``backward()``,
    the gradients of that operation's inputs from the gradients of its outputs. Nodes are
    connected through :class:`GradientEdge` tuples in :attr:`next_functions`.

    Nodes are created by :meth:`afnio.autodiff.function.Function.apply` (one
    ``<Function>Backward0`` node per call) and by leaves that require gradients
    (one :class:`AccumulateGrad` per leaf).
    """

    _name: str | None = None

    def __init__(self, next_functions: tuple[GradientEdge, ...] | None = None) -> None:
        self._next_functions: tuple[GradientEdge, ...] = ()
        if next_functions is not None:
            self.next_functions = next_functions
        self._sequence_nr = next(_sequence_nrs)
        # Created on first use: graphs have many nodes and few of them get hooks or calls.
        self._pre_hooks: dict[int, Callable[..., Any]] | None = None
        self._post_hooks: dict[int, Callable[..., Any]] | None = None
        self._calls: list[ModelCall] | None = None
        self._metadata: dict[str, Any] | None = None
        self.node_id: str | None = None

    @property
    def metadata(self) -> dict[str, Any]:
        """A dict for any information about the node (as ``torch.autograd.graph.Node``).
        afnio sets ``"module"``: the path of the Module whose call created the node."""
        if self._metadata is None:
            self._metadata = {}
        return self._metadata

    @property
    def next_functions(self) -> tuple[GradientEdge, ...]:
        """The edges to the nodes that receive this node's gradients, one per input Variable of
        the forward operation, in argument order. Each is a ``(node, output_nr)`` pair."""
        return self._next_functions

    @next_functions.setter
    def next_functions(self, edges: Any) -> None:
        if not isinstance(edges, (tuple, list)):
            raise TypeError(
                f"`next_functions` must be a tuple of GradientEdge, got {type(edges).__name__}."
            )
        checked = []
        for edge in edges:
            if not isinstance(edge, tuple) or len(edge) != 2:
                raise TypeError(f"Each edge must be a (node, output_nr) pair, got {edge!r}.")
            node, output_nr = edge
            if node is not None and not isinstance(node, Node):
                raise TypeError(f"An edge's node must be a Node or None, got {node!r}.")
            if isinstance(output_nr, bool) or not isinstance(output_nr, int) or output_nr < 0:
                raise TypeError(f"An edge's output_nr must be an int >= 0, got {output_nr!r}.")
            checked.append(GradientEdge(node, output_nr))
        self._next_functions = tuple(checked)

    def name(self) -> str:
        """Returns the name of the backward node, e.g. ``"SumBackward0"``.

        Example:
            >>> import afnio
            >>> import afnio.cognitive.functional as F
            >>> a = afnio.Variable("Hello,", requires_grad=True)
            >>> b = afnio.Variable("world!", requires_grad=True)
            >>> c = F.sum([a, b])
            >>> print(c.grad_fn.name())
            SumBackward0
        """
        return self._name or type(self).__name__

    def apply(self, *args: Any) -> Any:
        """Computes the gradients of the inputs; implemented by subclasses."""
        raise NotImplementedError("Subclasses should implement this method.")

    @property
    def sequence_nr(self) -> int:
        """A number increasing with creation order; the engine uses it for deterministic order."""
        return self._sequence_nr

    @property
    def calls(self) -> tuple[ModelCall, ...]:
        """The model calls this node made (forward, backward or optimizer), in the order they
        started (by :attr:`ModelCall.id <afnio.models.ModelCall>`), whatever order concurrent
        calls finish in: the same graph gives the same list, call for call.

        Each item is an :class:`afnio.models.ModelCall` record: messages, completion arguments,
        response, usage, cost, latency, retries, cache hit and error.
        """
        with _calls_lock:
            return tuple(self._calls or ())

    def _record_call(self, record: ModelCall) -> None:
        with _calls_lock:
            if self._calls is None:
                self._calls = []
            bisect.insort(self._calls, record, key=operator.attrgetter("id"))
        emit("model_call", node=self, record=record)

    def register_prehook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Registers ``hook(grad_outputs) -> tuple | None``, run before this node's backward.

        ``grad_outputs`` is a tuple with one gradient Variable (or ``None``) per output of the
        forward operation. Returning a tuple replaces it.

        Returns:
            A handle whose ``remove()`` unregisters the hook.
        """
        if not callable(hook):
            raise TypeError(f"`hook` must be callable, but got {type(hook).__name__}.")
        if self._pre_hooks is None:
            self._pre_hooks = {}
        return RemovableHandle(self._pre_hooks, hook)

    def register_hook(self, hook: Callable[..., Any]) -> RemovableHandle:
        """Registers ``hook(grad_inputs, grad_outputs) -> tuple | None``, run after backward.

        ``grad_inputs`` holds one gradient (or ``None``) per edge of :attr:`next_functions`.
        Returning a tuple of the same length replaces it.

        Returns:
            A handle whose ``remove()`` unregisters the hook.
        """
        if not callable(hook):
            raise TypeError(f"`hook` must be callable, but got {type(hook).__name__}.")
        if self._post_hooks is None:
            self._post_hooks = {}
        return RemovableHandle(self._post_hooks, hook)

    @property
    def input_variables(self) -> tuple[Variable, ...]:
        """The Variables the forward operation took as inputs, aligned with
        :attr:`next_functions` (afnio addition, for inspection tools)."""
        return ()

    @property
    def output_variables(self) -> tuple[Variable | None, ...]:
        """The Variables the forward operation returned, by ``output_nr`` (``None`` for outputs
        that no longer exist). Afnio addition, for inspection tools."""
        return ()

    def __repr__(self) -> str:
        return f"<afnio.autodiff.function.{self.name()} object at {hex(id(self))}>"

    def __str__(self) -> str:
        return f"<{self.name()} object at {hex(id(self))}>"


def run_hooks(
    hooks: dict[int, Callable[..., Any]] | None,
    value: T,
    *args: Any,
    check: Callable[[Any], T] | None = None,
) -> T:
    """Calls each hook in registration order as ``hook(value, *args)``; a hook that returns
    something other than ``None`` replaces ``value`` (after ``check``, which may convert it or
    raise) for the hooks that follow. Returns the final value.

    This is the one hook runner of the engine: Variable hooks, node pre-hooks and node hooks.
    """
    if not hooks:
        return value
    for hook in list(hooks.values()):  # a hook may remove itself
        replaced = hook(value, *args)
        if replaced is not None:
            value = check(replaced) if check is not None else replaced
    return value


class AccumulateGrad(Node):
    """The node that appends incoming gradients to a leaf Variable's ``grad`` list.

    There is one per leaf that requires gradients, shared by every graph that uses the leaf.
    The engine stores leaf gradients through :meth:`apply` once the whole pass succeeded.
    """

    _name = "AccumulateGrad"

    def __init__(self, variable: Variable) -> None:
        super().__init__()
        self.variable = variable

    def apply(self, *grads: Variable) -> tuple[Variable, ...]:
        """Runs the leaf's hooks on each gradient and appends the result to its ``grad`` list.

        Returns:
            The gradients as stored (after the hooks), in order. (``torch``'s node returns
            nothing; afnio's engine reports what was stored to graph observers.)
        """
        stored = []
        for grad in grads:
            grad = run_hooks(self.variable._hooks, grad)
            self.variable._grads().append(grad)
            stored.append(grad)
        return tuple(stored)

    @property
    def input_variables(self) -> tuple[Variable, ...]:
        return ()

    @property
    def output_variables(self) -> tuple[Variable | None, ...]:
        return (self.variable,)


_accumulators_lock = threading.Lock()


def _grad_accumulator(variable: Variable) -> AccumulateGrad:
    """Returns the leaf's AccumulateGrad node, creating it on first use.

    The leaf holds it by a weak reference (the node holds the leaf), so that it lives as long as
    a graph uses it, as in torch.
    """
    ref = variable._accumulator
    node = ref() if ref is not None else None
    if isinstance(node, AccumulateGrad) and node.variable is variable:
        return node
    with _accumulators_lock:
        ref = variable._accumulator
        node = ref() if ref is not None else None
        if not isinstance(node, AccumulateGrad) or node.variable is not variable:
            node = AccumulateGrad(variable)
            variable._accumulator = weakref.ref(node)
        return node


def edge_to(variable: Variable) -> GradientEdge:
    """The edge through which an input of a recorded operation receives its gradient: that of
    :func:`get_gradient_edge`, or ``(None, 0)`` when it does not require gradients. (For the
    engine's hot path: ``variable`` must be a Variable.)"""
    if not variable._requires_grad:
        return GradientEdge(None, 0)
    node = variable._grad_fn
    if node is not None:
        return GradientEdge(node, variable._output_nr)
    return GradientEdge(_grad_accumulator(variable), 0)


def get_gradient_edge(variable: Variable) -> GradientEdge:
    """Returns the edge through which ``variable`` receives its gradient.

    For a Variable produced by an operation it is ``(variable.grad_fn, variable.output_nr)``;
    for a leaf that requires gradients it is ``(AccumulateGrad, 0)``. Such an edge can be passed
    as ``inputs=`` to ``backward``.

    Raises:
        TypeError: If ``variable`` is not a Variable.
        RuntimeError: If ``variable`` does not require gradients.

    Example:
        >>> import afnio
        >>> from afnio.autodiff.graph import get_gradient_edge
        >>> x = afnio.Variable("a", requires_grad=True)
        >>> get_gradient_edge(x).node.name()
        'AccumulateGrad'
    """
    from afnio._variable import Variable

    if not isinstance(variable, Variable):
        raise TypeError(f"`variable` must be a Variable, but got {type(variable).__name__}.")
    if variable.grad_fn is not None:
        return GradientEdge(variable.grad_fn, variable.output_nr)
    if variable.requires_grad:
        return GradientEdge(_grad_accumulator(variable), 0)
    raise RuntimeError(
        "It is not possible to get the gradient edge for a Variable that does not require "
        "gradients."
    )


# -- graph events ---------------------------------------------------------------------------------

EventKind = Literal[
    "node_created",
    "op_without_grad",
    "backward_started",
    "node_started",
    "node_finished",
    "gradient_accumulated",
    "backward_finished",
    "model_call",
]
"""The kinds of :class:`GraphEvent`, in the order a forward and backward pass emit them."""

EVENT_KINDS: tuple[EventKind, ...] = get_args(EventKind)


@dataclass(frozen=True)
class GraphEvent:
    """Something that happened to the graph, delivered to observers.

    Attributes:
        kind: One of :data:`EVENT_KINDS`:

            * ``"node_created"``: an operation recorded ``node``; ``inputs``/``outputs`` hold its
              Variables.
            * ``"op_without_grad"``: an operation ran without recording a graph (grad mode off,
              or no input requires grad); ``name`` is its backward name, ``inputs``/``outputs``
              its Variables.
            * ``"backward_started"``: ``outputs`` are the roots, ``backward_id`` identifies the
              pass in the events that follow.
            * ``"node_started"`` / ``"node_finished"``: the engine began/ended ``node``'s backward.
            * ``"gradient_accumulated"``: ``gradient`` was appended to ``variable.grad``.
            * ``"backward_finished"``: the pass ended; ``error`` is set if it failed.
            * ``"model_call"``: ``node`` recorded a model call, ``record``.
        node: The node concerned, if any.
        variable: The Variable concerned, if any.
        gradient: The gradient concerned, if any.
        inputs: Input Variables (``node_created``, ``op_without_grad``).
        outputs: Output Variables, or the roots of a backward pass.
        name: The operation name (``op_without_grad``).
        backward_id: Identifies the backward pass (backward events only).
        error: The exception that ended a backward pass, if any.
        record: The model-call record (``model_call``).
    """

    kind: EventKind
    node: Node | None = None
    variable: Variable | None = None
    gradient: Variable | None = None
    inputs: tuple[Variable, ...] = ()
    outputs: tuple[Variable, ...] = ()
    name: str | None = None
    backward_id: int | None = None
    error: BaseException | None = None
    record: ModelCall | None = None


_observers: dict[int, Callable[[GraphEvent], None]] = {}
_observers_lock = threading.Lock()


def register_graph_observer(observer: Callable[[GraphEvent], None]) -> RemovableHandle:
    """Registers ``observer(event)``, called for every :class:`GraphEvent` in every thread.

    This is how tools such as ``afnio_widgets`` follow the graph as it is built and as backward
    runs. Observers are called synchronously, possibly from afnio's engine thread; keep them
    fast. An exception raised by an observer is logged and does not stop the computation.

    Returns:
        A handle; ``remove()`` (or leaving it as a context manager) unregisters the observer.

    Example:
        >>> import afnio
        >>> from afnio.autodiff.graph import register_graph_observer
        >>> kinds = []
        >>> with register_graph_observer(lambda e: kinds.append(e.kind)):
        ...     y = afnio.Variable("a", requires_grad=True) + afnio.Variable("b")
        >>> kinds
        ['node_created']
    """
    if not callable(observer):
        raise TypeError(f"`observer` must be callable, but got {type(observer).__name__}.")
    with _observers_lock:
        return RemovableHandle(_observers, observer)


_events_suppressed: contextvars.ContextVar[bool] = contextvars.ContextVar(
    "afnio_graph_events_suppressed", default=False
)


@contextlib.contextmanager
def suppress_graph_events() -> Iterator[None]:
    """Within the block (in this thread or task), operations and backward passes send no
    :class:`GraphEvent` to observers: live views do not draw them.

    ``afnio.tellurio.suppress_variable_notifications`` is this context manager (afnio 0.3.7
    used it to stop reporting Variables to its server, e.g. while reading a dataset).

    Example:
        >>> import afnio
        >>> from afnio.autodiff.graph import register_graph_observer, suppress_graph_events
        >>> kinds = []
        >>> with register_graph_observer(lambda e: kinds.append(e.kind)):
        ...     with suppress_graph_events():
        ...         y = afnio.Variable("a", requires_grad=True) + afnio.Variable("b")
        >>> kinds
        []
    """
    token = _events_suppressed.set(True)
    try:
        yield
    finally:
        _events_suppressed.reset(token)


def events_suppressed() -> bool:
    """Whether :func:`suppress_graph_events` is in effect here."""
    return _events_suppressed.get()


def has_observers() -> bool:
    """Whether any graph observer would receive an event here (operations skip building events
    otherwise)."""
    return bool(_observers) and not _events_suppressed.get()


def emit(kind: EventKind, **fields: Any) -> None:
    """Delivers a :class:`GraphEvent` to every observer; builds nothing when there is none."""
    if not _observers or _events_suppressed.get():
        return
    event = GraphEvent(kind, **fields)
    with _observers_lock:
        observers = list(_observers.values())
    for observer in observers:
        try:
            observer(event)
        except Exception:
            logger.exception("A graph observer failed on a %r event.", event.kind)
