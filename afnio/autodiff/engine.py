"""The backward engine: walks the graph from the roots and delivers textual gradients.

Ready nodes (whose consumers have all delivered) run concurrently: coroutine backward functions
as tasks on afnio's loop, plain ones in worker threads (built-in text ops inline). Gradients that
reach the same output of a node are ordered by a fixed key, so the result never depends on which
model call finished first. Leaf gradients are stored only when the whole pass succeeded.
"""

from __future__ import annotations

import asyncio
import inspect
import itertools
from collections import deque
from collections.abc import Sequence
from typing import Any

from afnio._recording import recording_to
from afnio._runtime import run_sync
from afnio._variable import Variable
from afnio.autodiff import graph
from afnio.autodiff.config import IDENTITY_GRADIENT_DATA
from afnio.autodiff.function import FREED_GRAPH_ERROR, BackwardFunction
from afnio.autodiff.grad_mode import task_grad_mode
from afnio.autodiff.graph import AccumulateGrad, GradientEdge, Node, run_hooks

__all__ = ["backward", "combine_gradients"]

_backward_ids = itertools.count(1)


def _order_key(item: tuple[tuple[int, ...], Variable]) -> tuple[int, ...]:
    """Gradients reaching one output are combined in a fixed order: by the order key they were
    delivered with (the sending node and its edge), not by arrival time."""
    return item[0]


def combine_gradients(grads: Sequence[Variable]) -> Variable:
    """Merges several gradients of one Variable into one, for a single backward call.

    Texts are joined with blank lines (empty feedback is left out); batched gradients (list data)
    are joined item by item, a scalar gradient applying to every item. Roles are kept when equal,
    otherwise joined with ``" and "``.

    Example:
        >>> import afnio
        >>> from afnio.autodiff.engine import combine_gradients
        >>> g = combine_gradients([afnio.Variable("Be brief.", role="feedback to answer"),
        ...                        afnio.Variable("Use French.", role="feedback to answer")])
        >>> print(g.data)
        Be brief.
        <BLANKLINE>
        Use French.
    """
    if len(grads) == 1:
        return grads[0]
    roles: list[str] = []
    for g in grads:
        if g.role not in roles:
            roles.append(g.role)
    lengths = {len(g.data) for g in grads if isinstance(g.data, list)}
    if len(lengths) > 1:
        raise ValueError(
            f"Cannot combine batched gradients of different lengths: {sorted(lengths)}."
        )

    def join(items: list[Any]) -> Any:
        texts = [str(x) for x in items if x not in (None, "")]
        return "\n\n".join(texts)

    if lengths:
        n = lengths.pop()
        data: Any = [
            join([g.data[i] if isinstance(g.data, list) else g.data for g in grads])
            for i in range(n)
        ]
    else:
        data = join([g.data for g in grads])
    return Variable(data, role=" and ".join(r for r in roles if r) or roles[0])


def _as_roots(variables: Any) -> list[Variable]:
    if isinstance(variables, Variable):
        return [variables]
    if isinstance(variables, (list, tuple)) and variables:
        bad = [type(v).__name__ for v in variables if not isinstance(v, Variable)]
        if not bad:
            return list(variables)
    raise TypeError(
        "`variables` must be a Variable or a non-empty sequence of Variables, but got "
        f"{type(variables).__name__}: {variables!r:.80}."
    )


def _as_grads(grad_variables: Any, n: int) -> list[Variable | None]:
    if grad_variables is None:
        return [None] * n
    if isinstance(grad_variables, Variable):
        grads: list[Any] = [grad_variables]
    elif isinstance(grad_variables, (list, tuple)):
        grads = list(grad_variables)
    else:
        raise TypeError(
            "`grad_variables` must be a Variable, None, or a sequence of them, but got "
            f"{type(grad_variables).__name__}."
        )
    if len(grads) != n:
        raise RuntimeError(
            f"`grad_variables` has {len(grads)} entries but there are {n} variables to "
            "differentiate; give one gradient (or None) per variable."
        )
    for g in grads:
        if g is not None and not isinstance(g, Variable):
            raise TypeError(
                f"Each gradient must be a Variable or None, but got {type(g).__name__}: {g!r:.80}."
            )
    return grads


def _as_targets(inputs: Any) -> set[Node] | None:
    if inputs is None:
        return None
    if isinstance(inputs, (Variable, GradientEdge)):
        inputs = [inputs]
    elif not isinstance(inputs, (list, tuple)):
        raise TypeError(
            "`inputs` must be a Variable, a GradientEdge, or a sequence of them, but got "
            f"{type(inputs).__name__}."
        )
    if len(inputs) == 0:
        raise RuntimeError("`inputs` argument to backward() cannot be empty.")
    targets: set[Node] = set()
    for item in inputs:
        if isinstance(item, GradientEdge):
            if item.node is None:
                raise RuntimeError("A GradientEdge in `inputs` has no node.")
            targets.add(item.node)
        elif isinstance(item, Variable):
            if not item.is_leaf:
                raise RuntimeError(
                    "One of the differentiated Variables in `inputs` is not a leaf; only leaf "
                    f"Variables accumulate gradients (got one with role {item.role!r}, produced "
                    f"by {item.grad_fn.name() if item.grad_fn else None})."
                )
            if not item.requires_grad:
                raise RuntimeError(
                    f"One of the Variables in `inputs` (role {item.role!r}) does not require grad."
                )
            targets.add(graph.get_gradient_edge(item).node)  # type: ignore[arg-type]
        else:
            raise TypeError(
                f"`inputs` must hold Variables or GradientEdges, but got {type(item).__name__}."
            )
    return targets


def backward(
    variables: Variable | Sequence[Variable],
    grad_variables: Variable | Sequence[Variable | None] | None = None,
    retain_graph: bool | None = None,
    create_graph: bool = False,
    inputs: Any = None,
) -> None:
    """Computes textual gradients of ``variables`` with respect to the graph leaves.

    Gradients flow from each root through every recorded operation (chain rule); each leaf that
    requires gradients has one gradient Variable *appended* to its ``grad`` list per path that
    reaches it. A node that receives several gradients on one output is called once with all of
    them (see :func:`combine_gradients`). Independent nodes run concurrently. Leaves and
    retained non-leaves receive their gradients only if the whole pass succeeds.

    Args:
        variables: The roots: a Variable or a sequence of Variables.
        grad_variables: The feedback on each root (a Variable, or ``None`` for evaluator outputs
            and scalar data, which then start from an empty feedback).
        retain_graph: Keep the graph so that backward can run through it again. Defaults to
            ``create_graph``.
        create_graph: Run backward functions with grad mode enabled.
        inputs: Leaves (or gradient edges) to accumulate into; the others are left untouched and
            branches that lead to none of them are not computed.

    Raises:
        TypeError: If ``variables``, ``grad_variables`` or ``inputs`` have the wrong types.
        RuntimeError: If a root neither requires grad nor has a ``grad_fn``; if a gradient is
            missing for a batched root; if ``inputs`` is empty or holds a non-leaf; if part of the
            graph was freed by an earlier backward without ``retain_graph=True``.
    """
    roots = _as_roots(variables)
    grads = _as_grads(grad_variables, len(roots))
    targets = _as_targets(inputs)
    if retain_graph is None:
        retain_graph = create_graph
    seeds: list[tuple[GradientEdge, Variable]] = []
    for root, grad in zip(roots, grads):
        if not root.requires_grad:
            raise RuntimeError(
                f"Element of `variables` (role {root.role!r}) does not require grad and does "
                "not have a grad_fn."
            )
        if grad is None:
            node = root.grad_fn
            is_evaluator = isinstance(node, BackwardFunction) and node._forward_cls._is_evaluator
            if isinstance(root.data, list) and not is_evaluator:
                raise RuntimeError(
                    f"A gradient can be implicitly created only for evaluator outputs and scalar "
                    f"data; the root with role {root.role!r} holds a batch. Pass "
                    "`gradient=Variable(feedback)`."
                )
            grad = Variable(IDENTITY_GRADIENT_DATA, role=f"feedback to {root.role}")
        seeds.append((graph.get_gradient_edge(root), grad))
    run_sync(_Pass(roots, seeds, bool(retain_graph), create_graph, targets).run())


class _Pass:
    """One backward pass over the graph."""

    def __init__(
        self,
        roots: list[Variable],
        seeds: list[tuple[GradientEdge, Variable]],
        retain_graph: bool,
        create_graph: bool,
        targets: set[Node] | None,
    ) -> None:
        self.roots = roots
        self.seeds = seeds
        self.retain_graph = retain_graph
        self.create_graph = create_graph
        self.targets = targets
        self.id = next(_backward_ids)
        self.quiet = graph.events_suppressed()
        # node -> output slot -> [(order key, gradient)]
        self.buffers: dict[Node, dict[int, list[tuple[tuple[int, ...], Variable]]]] = {}
        # Stored only when the whole pass succeeded (see _commit), in arrival order: gradients
        # of leaves (their AccumulateGrad runs their hooks) and of retained non-leaves (whose
        # hooks already ran when the gradient arrived).
        self.to_store: list[tuple[Node, Variable, Variable]] = []

    def _discover(self) -> tuple[dict[Node, int], set[Node]]:
        """Finds the nodes to run and, for each, how many edges point to it."""
        children: dict[Node, list[Node]] = {}
        stack = [edge.node for edge, _ in self.seeds if edge.node is not None]
        seen: set[Node] = set(stack)
        while stack:
            node = stack.pop()
            nexts = [e.node for e in node.next_functions if e.node is not None]
            children[node] = nexts
            for child in nexts:
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        if self.targets is None:
            needed = seen
        else:
            # Keep only the nodes from which a target can be reached.
            needed = {n for n in self.targets if n in seen}
            parents: dict[Node, list[Node]] = {}
            for node, nexts in children.items():
                for child in nexts:
                    parents.setdefault(child, []).append(node)
            stack = list(needed)
            while stack:
                for parent in parents.get(stack.pop(), ()):
                    if parent not in needed:
                        needed.add(parent)
                        stack.append(parent)
        deps = {node: 0 for node in needed}
        for node in needed:
            for child in children[node]:
                if child in needed:
                    deps[child] += 1
        return deps, needed

    async def run(self) -> None:
        # The pass runs on afnio's loop thread: carry the caller's suppression of events there.
        if self.quiet:
            with graph.suppress_graph_events():
                await self._run_and_report()
        else:
            await self._run_and_report()

    async def _run_and_report(self) -> None:
        graph.emit("backward_started", outputs=tuple(self.roots), backward_id=self.id)
        error: BaseException | None = None
        try:
            await self._run()
            self._commit()
        except BaseException as exc:
            error = exc
            raise
        finally:
            graph.emit("backward_finished", backward_id=self.id, error=error)

    async def _run(self) -> None:
        deps, needed = self._discover()
        for node in needed:
            if isinstance(node, BackwardFunction) and node._released:
                raise RuntimeError(FREED_GRAPH_ERROR)
        for i, (edge, grad) in enumerate(self.seeds):
            if edge.node in needed:
                self._deliver(edge.node, edge.output_nr, (-1, i), grad)
        ready = deque(sorted((n for n in needed if deps[n] == 0), key=lambda n: -n.sequence_nr))
        running: dict[asyncio.Task[Any], Node] = {}
        try:
            with task_grad_mode(self.create_graph):
                await self._loop(deps, needed, ready, running)
        except BaseException:
            for task in running:
                task.cancel()
            if running:
                await asyncio.gather(*running, return_exceptions=True)
            raise

    async def _loop(
        self,
        deps: dict[Node, int],
        needed: set[Node],
        ready: deque[Node],
        running: dict[asyncio.Task[Any], Node],
    ) -> None:
        while ready or running:
            while ready:
                node = ready.popleft()
                outcome = self._start(node)
                if isinstance(outcome, asyncio.Task):
                    running[outcome] = node
                else:
                    self._finish(node, outcome, deps, needed, ready)
            if running:
                done, _ = await asyncio.wait(running, return_when=asyncio.FIRST_COMPLETED)
                for task in sorted(done, key=lambda t: -running[t].sequence_nr):
                    node = running.pop(task)
                    self._finish(node, task.result(), deps, needed, ready)

    def _deliver(self, node: Node, slot: int, key: tuple[int, ...], grad: Variable) -> None:
        self.buffers.setdefault(node, {}).setdefault(slot, []).append((key, grad))

    def _gradients_for(self, node: Node) -> dict[int, list[Variable]]:
        slots = self.buffers.pop(node, {})
        out: dict[int, list[Variable]] = {}
        # Leaf hooks run when the pass commits (see _commit).
        leaf = isinstance(node, AccumulateGrad)
        outputs = () if leaf else node.output_variables
        for slot, items in sorted(slots.items()) if len(slots) > 1 else slots.items():
            if len(items) > 1:
                items.sort(key=_order_key)
            grads = []
            var = None if leaf or slot >= len(outputs) else outputs[slot]
            for _, grad in items:
                if var is not None:
                    grad = run_hooks(var._hooks, grad)
                    if var._retain_grad and not isinstance(node, AccumulateGrad):
                        self.to_store.append((node, var, grad))
                grads.append(grad)
            out[slot] = grads
        return out

    def _start(self, node: Node) -> Any:
        """Starts ``node``'s backward: returns its result, or a task for async work."""
        graph.emit("node_started", node=node, backward_id=self.id)
        per_slot = self._gradients_for(node)
        if isinstance(node, AccumulateGrad):
            self.to_store.extend((node, node.variable, grad) for grad in per_slot.get(0, []))
            return ()
        if not per_slot:
            return None  # nothing reached this node: its inputs get nothing either
        n_outputs = max(len(node.output_variables), max(per_slot) + 1)
        grad_outputs: tuple[Any, ...] = tuple(
            combine_gradients(per_slot[i]) if i in per_slot else None for i in range(n_outputs)
        )
        grad_outputs = run_hooks(node._pre_hooks, grad_outputs, check=tuple)
        inline = isinstance(node, BackwardFunction) and node._forward_cls._inline_backward
        if inline:  # pure text ops: no model call to record
            return self._post(node, node.apply(*grad_outputs), grad_outputs)
        backward_fn = (
            node._forward_cls.backward if isinstance(node, BackwardFunction) else node.apply
        )
        if inspect.iscoroutinefunction(backward_fn):
            return asyncio.ensure_future(self._run_async(node, grad_outputs))
        return asyncio.ensure_future(self._run_in_thread(node, grad_outputs))

    async def _run_async(self, node: Node, grad_outputs: tuple[Any, ...]) -> Any:
        with recording_to(node._record_call, "backward"):
            return self._post(node, await node.apply(*grad_outputs), grad_outputs)

    async def _run_in_thread(self, node: Node, grad_outputs: tuple[Any, ...]) -> Any:
        with recording_to(node._record_call, "backward"):
            result = await asyncio.to_thread(node.apply, *grad_outputs)
        if inspect.isawaitable(result):
            result = await result
        return self._post(node, result, grad_outputs)

    def _post(self, node: Node, result: Any, grad_outputs: tuple[Any, ...]) -> Any:
        if isinstance(node, BackwardFunction):
            grads: tuple[Any, ...] = node._map_grad_inputs(result)
        else:
            grads = tuple(result) if isinstance(result, (tuple, list)) else (result,)

        def same_length(replaced: Any) -> tuple[Any, ...]:
            if len(replaced) != len(grads):
                raise RuntimeError(
                    f"A hook on {node.name()} returned {len(replaced)} gradients, "
                    f"expected {len(grads)}."
                )
            return tuple(replaced)

        return run_hooks(node._post_hooks, grads, grad_outputs, check=same_length)

    def _finish(
        self,
        node: Node,
        grads: Any,
        deps: dict[Node, int],
        needed: set[Node],
        ready: deque[Node],
    ) -> None:
        if grads is None:
            grads = (None,) * len(node.next_functions)
        if not self.retain_graph and isinstance(node, BackwardFunction):
            node._release()
        graph.emit("node_finished", node=node, backward_id=self.id)
        became_ready = []
        for i, edge in enumerate(node._next_functions):
            child = edge.node
            if child is None or child not in needed:
                continue
            grad = grads[i] if i < len(grads) else None
            if grad is not None:
                self._deliver(child, edge.output_nr, (-node.sequence_nr, i), grad)
            deps[child] -= 1
            if deps[child] == 0:
                became_ready.append(child)
        became_ready.sort(key=lambda n: -n.sequence_nr)
        ready.extend(became_ready)

    def _commit(self) -> None:
        for node, variable, grad in self.to_store:
            if isinstance(node, AccumulateGrad):
                (grad,) = node.apply(grad)
            else:
                variable._grads().append(grad)
            graph.emit(
                "gradient_accumulated",
                node=node,
                variable=variable,
                gradient=grad,
                backward_id=self.id,
            )
