import pytest

import afnio
import afnio.cognitive.functional as F
from afnio import GradientEdge, Node, Variable
from afnio.autodiff.graph import (
    EVENT_KINDS,
    AccumulateGrad,
    get_gradient_edge,
    register_graph_observer,
)


def test_node_basics():
    node = Node()
    assert node.next_functions == ()
    assert node.name() == "Node"
    with pytest.raises(NotImplementedError, match="Subclasses should implement this method."):
        node.apply()
    assert repr(node).startswith("<afnio.autodiff.function.Node object at 0x")
    assert str(node).startswith("<Node object at 0x")
    other = Node(next_functions=((node, 0), (None, 0)))
    assert other.next_functions == (GradientEdge(node, 0), GradientEdge(None, 0))
    assert other.sequence_nr > node.sequence_nr


def test_next_functions_validation():
    node = Node()
    with pytest.raises(TypeError, match="tuple of GradientEdge"):
        node.next_functions = "x"
    with pytest.raises(TypeError, match="node must be a Node"):
        node.next_functions = (("x", 0),)
    with pytest.raises(TypeError, match="output_nr must be an int"):
        node.next_functions = ((None, -1),)


def test_add_graph_shape():
    x = Variable("x", role="x", requires_grad=True)
    y = Variable("y", role="y")
    z = x + y
    edges = z.grad_fn.next_functions
    assert len(edges) == 2
    assert "<AccumulateGrad" in str(edges[0].node) and edges[0].output_nr == 0
    assert edges[1].node is None and "None" in str(edges[1])
    assert "<AddBackward" in str(z.grad_fn)
    assert "<afnio.autodiff.function.AddBackward" in repr(z.grad_fn)
    assert z.grad_fn.input_variables == (x, y)
    assert z.grad_fn.output_variables == (z,)


def test_gradient_edge_repr():
    node = Node()
    assert repr(GradientEdge(None, 3)) == "(None, 3)"
    assert repr(GradientEdge(node, 1)) == f"({node}, 1)"
    assert GradientEdge(node, 1).node is node and GradientEdge(node, 1)[1] == 1


def test_accumulate_grad_is_one_per_leaf_and_reused():
    x = Variable("x", requires_grad=True)
    a = x + x
    b = F.sum([x])
    nodes = {e.node for e in a.grad_fn.next_functions} | {e.node for e in b.grad_fn.next_functions}
    assert len(nodes) == 1
    (acc,) = nodes
    assert isinstance(acc, AccumulateGrad) and acc.name() == "AccumulateGrad"
    assert acc.variable is x and acc.output_variables == (x,)


def test_get_gradient_edge():
    x = Variable("x", requires_grad=True)
    assert get_gradient_edge(x).node.name() == "AccumulateGrad"
    parts = F.split(Variable("a b", requires_grad=True), " ")
    edge = get_gradient_edge(parts[1])
    assert edge == GradientEdge(parts[1].grad_fn, 1)
    with pytest.raises(RuntimeError, match="does not require gradients"):
        get_gradient_edge(Variable("x"))
    with pytest.raises(TypeError, match="`variable` must be a Variable"):
        get_gradient_edge("x")


def test_split_graph_shape():
    parts = F.split(Variable("a b c", requires_grad=True), " ")
    assert len(parts) == 3
    for i, part in enumerate(parts):
        assert part.output_nr == i and part.grad_fn is parts[0].grad_fn
        (edge,) = part.grad_fn.next_functions
        assert edge.node.name() == "AccumulateGrad" and edge.output_nr == 0


class TestHooks:
    def test_variable_hook_sees_and_replaces(self):
        x = Variable("x", role="x", requires_grad=True)
        seen = []

        def hook(grad):
            seen.append(grad.data)
            return Variable("replaced", role=grad.role)

        handle = x.register_hook(hook)
        (x + Variable("y")).backward(Variable("G"))
        assert len(seen) == 1 and x.grad[0].data == "replaced"
        handle.remove()
        (x + Variable("y")).backward(Variable("G"))
        assert len(seen) == 1 and x.grad[1].data != "replaced"

    def test_variable_hook_on_non_leaf(self):
        x = Variable("x", role="x", requires_grad=True)
        y = x + Variable("y", role="y")
        y.register_hook(lambda g: Variable(g.data.upper(), role=g.role))
        F.sum([y]).backward(Variable("shout"))
        assert x.grad[0].data.endswith("SHOUT")

    def test_variable_hook_errors(self):
        with pytest.raises(RuntimeError, match="doesn't require gradient"):
            Variable("x").register_hook(lambda g: None)
        with pytest.raises(TypeError, match="`hook` must be callable"):
            Variable("x", requires_grad=True).register_hook("no")

    def test_node_prehook_and_hook(self):
        x = Variable("x", role="x", requires_grad=True)
        y = x + Variable("y", role="y")
        calls = []

        def prehook(grad_outputs):
            calls.append(("pre", grad_outputs[0].data))
            return (Variable("changed", role="feedback"),)

        def hook(grad_inputs, grad_outputs):
            calls.append(("post", grad_outputs[0].data, len(grad_inputs)))
            return (Variable("final", role="feedback to x"), None)

        h1 = y.grad_fn.register_prehook(prehook)
        h2 = y.grad_fn.register_hook(hook)
        y.backward(Variable("original"), retain_graph=True)
        assert calls == [("pre", "original"), ("post", "changed", 2)]
        assert x.grad[0].data == "final"
        h1.remove()
        h2.remove()
        y.backward(Variable("again"))
        assert len(calls) == 2 and x.grad[1].data.endswith("again")

    def test_accumulate_grad_is_the_one_way_a_leaf_stores_gradients(self):
        # The engine stores leaf gradients through AccumulateGrad.apply: calling the node
        # directly does what a backward pass does (hooks, then append).
        x = Variable("x", role="x", requires_grad=True)
        x.register_hook(lambda g: Variable(g.data + "!", role=g.role))
        node = get_gradient_edge(x).node
        stored = node.apply(Variable("direct", role="feedback to x"))
        assert [g.data for g in stored] == ["direct!"]
        (x + Variable("y")).backward(Variable("G"))
        assert x.grad[0].data == "direct!"
        assert x.grad[1].data.endswith("G!")
        seen = []
        original = AccumulateGrad.apply

        def spy(self, *grads):
            seen.append(self.variable.role)
            return original(self, *grads)

        AccumulateGrad.apply = spy
        try:
            (x + Variable("y")).backward(Variable("G"))
        finally:
            AccumulateGrad.apply = original
        assert seen == ["x"] and len(x.grad) == 3

    def test_hooks_run_in_order_and_may_remove_themselves(self):
        x = Variable("x", role="x", requires_grad=True)
        order = []
        handles = []

        def first(g):
            order.append("first")
            handles[0].remove()
            return Variable(g.data + "1", role=g.role)

        def second(g):
            order.append("second")
            return Variable(g.data + "2", role=g.role)

        handles.append(x.register_hook(first))
        handles.append(x.register_hook(second))
        (x + Variable("y")).backward(Variable("G"))
        assert order == ["first", "second"] and x.grad[0].data.endswith("G12")
        (x + Variable("y")).backward(Variable("G"))
        assert order == ["first", "second", "second"]

    def test_a_node_hook_returning_the_wrong_number_of_gradients_is_named(self):
        y = Variable("x", requires_grad=True) + Variable("y")
        y.grad_fn.register_hook(lambda grad_inputs, grad_outputs: (None,))
        with pytest.raises(RuntimeError, match="A hook on AddBackward0 returned 1 gradients"):
            y.backward(Variable("G"))

    def test_handle_as_context_manager(self):
        x = Variable("x", requires_grad=True)
        seen = []
        with x.register_hook(lambda g: seen.append(1)):
            (x + x).backward(Variable("G"))
        (x + x).backward(Variable("G"))
        assert len(seen) == 2  # two edges from the first backward, none after removal


def test_graph_events_sequence():
    events = []
    with register_graph_observer(events.append):
        x = Variable("x", role="x", requires_grad=True)
        y = x + Variable("y", role="y")
        with afnio.no_grad():
            z = x + x
        y.backward(Variable("G"))
    kinds = [e.kind for e in events]
    assert kinds == [
        "node_created",
        "op_without_grad",
        "backward_started",
        "node_started",
        "node_finished",
        "node_started",
        "node_finished",
        "gradient_accumulated",
        "backward_finished",
    ]
    assert set(kinds) <= set(EVENT_KINDS)
    created = events[0]
    assert created.node is y.grad_fn and created.outputs == (y,)
    assert created.inputs[0] is x
    assert events[1].name == "AddBackward0" and events[1].outputs == (z,)
    acc = events[7]
    assert acc.variable is x and acc.gradient is x.grad[0]
    ids = {e.backward_id for e in events[2:]}
    assert len(ids) == 1 and None not in ids
    assert events[-1].error is None
    # removed: nothing more is delivered
    Variable("a", requires_grad=True) + Variable("b")
    assert len(events) == len(kinds)


def test_failing_observer_does_not_break_computation(caplog):
    def bad(event):
        raise ValueError("observer bug")

    with register_graph_observer(bad):
        y = Variable("a", requires_grad=True) + Variable("b")
    assert y.data == "ab"
    assert "observer failed" in caplog.text


def test_observer_must_be_callable():
    with pytest.raises(TypeError, match="`observer` must be callable"):
        register_graph_observer(3)
