"""What a recorded graph costs in objects: few containers per node, none for unused features,
and a leaf's AccumulateGrad node owned by that leaf alone."""

from __future__ import annotations

import copy
import gc

import afnio
import afnio.cognitive.functional as F
from afnio.autodiff.graph import get_gradient_edge


def _blocks(n: int) -> afnio.Variable:
    outs = []
    for _ in range(n):
        x = afnio.Variable("alpha beta", role="x", requires_grad=True)
        y = afnio.Variable("!", role="y", requires_grad=True)
        a, b = F.split(x, " ")
        outs.append(F.add(F.sum([a, b]), y))
    return F.sum(outs)


def test_a_node_brings_few_objects_for_the_garbage_collector_to_track():
    _blocks(10)  # warm up: caches, interned names
    gc.collect()
    before = len(gc.get_objects())
    root = _blocks(400)
    tracked = len(gc.get_objects()) - before
    nodes = 400 * 5 + 1
    # Each block: 6 Variables and 5 nodes, their edges, inputs and outputs. No gradient list,
    # hook dict, call list or metadata until something uses them, and no table entry per leaf.
    assert tracked / nodes < 7.0, tracked / nodes
    assert root.grad_fn is not None


def test_variables_get_their_gradient_list_when_a_gradient_arrives():
    x = afnio.Variable("a", role="x", requires_grad=True)
    assert x._grad is None and x.grad == []
    assert x.grad is x.grad  # made once, then kept
    y = afnio.Variable("b", role="y", requires_grad=True)
    (y + afnio.Variable("c")).backward(afnio.Variable("shorter", role="feedback"))
    assert len(y.grad) == 1 and "shorter" in y.grad[0].data


def test_a_deep_copy_of_a_leaf_gets_its_own_accumulator():
    x = afnio.Variable("a", role="x", requires_grad=True)
    node = get_gradient_edge(x).node
    twin = copy.deepcopy(x)
    assert get_gradient_edge(twin).node is not node
    assert get_gradient_edge(twin).node.variable is twin
    assert get_gradient_edge(x).node is node  # the same node while a graph may use it
    (twin + afnio.Variable("b")).backward(afnio.Variable("to the copy", role="feedback"))
    assert len(twin.grad) == 1 and "to the copy" in twin.grad[0].data
    assert x.grad == []
