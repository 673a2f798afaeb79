"""PyTorch as the oracle for graph structure and gradient flow, where the semantics coincide.

Graphs of additions have the same shape in both libraries. Gradients differ by design: torch
sums them, afnio appends one textual gradient per edge that reaches a leaf's AccumulateGrad
(a non-leaf node gets all of its incoming feedback in a single call). So a leaf gets gradients
exactly when torch gives it a non-zero gradient, and as many as torch's graph has edges into
its AccumulateGrad.
"""

import random

import pytest

import afnio
from afnio import Variable

torch = pytest.importorskip("torch")


def _random_dag(seed, n_leaves=4, n_ops=12):
    rng = random.Random(seed)
    requires = [rng.random() < 0.7 for _ in range(n_leaves)]
    requires[0] = True
    a_nodes = [Variable(f"l{i}", role=f"leaf {i}", requires_grad=r) for i, r in enumerate(requires)]
    t_nodes = [torch.tensor(1.0, requires_grad=r) for r in requires]
    for _ in range(n_ops):
        i, j = rng.randrange(len(a_nodes)), rng.randrange(len(a_nodes))
        a_nodes.append(a_nodes[i] + a_nodes[j])
        t_nodes.append(t_nodes[i] + t_nodes[j])
    return a_nodes, t_nodes, n_leaves


def _structure(fn, seen):
    """A comparable picture of a backward graph (names and edge shape)."""
    if fn is None:
        return None
    if id(fn) in seen:
        return ("seen", seen[id(fn)])
    seen[id(fn)] = len(seen)
    name = fn.name().removeprefix("torch::autograd::")
    return (name, tuple((_structure(n, seen), nr) for n, nr in fn.next_functions))


def _edges_into_accumulators(root_fn):
    counts, seen, stack = {}, set(), [root_fn]
    while stack:
        fn = stack.pop()
        if fn is None or id(fn) in seen:
            continue
        seen.add(id(fn))
        for child, _ in fn.next_functions:
            if child is not None and hasattr(child, "variable"):
                counts[id(child.variable)] = counts.get(id(child.variable), 0) + 1
            stack.append(child)
    return counts


@pytest.mark.parametrize("seed", range(8))
def test_graph_structure_and_path_counts_match_torch(seed):
    a_nodes, t_nodes, n_leaves = _random_dag(seed)
    a_root, t_root = a_nodes[-1], t_nodes[-1]
    if not t_root.requires_grad:
        pytest.skip("root does not require grad for this draw")
    assert a_root.requires_grad == t_root.requires_grad
    assert _structure(a_root.grad_fn, {}) == _structure(t_root.grad_fn, {})
    a_root.backward(Variable("G", role="feedback"))
    t_root.backward()
    edges_into = _edges_into_accumulators(t_root.grad_fn)
    for a_leaf, t_leaf in zip(a_nodes[:n_leaves], t_nodes[:n_leaves]):
        reached = t_leaf.grad is not None and t_leaf.grad.item() != 0
        assert bool(a_leaf.grad) == reached
        assert len(a_leaf.grad) == edges_into.get(id(t_leaf), 0)
    for a_var, t_var in zip(a_nodes, t_nodes):
        assert a_var.is_leaf == t_var.is_leaf
        assert a_var.requires_grad == t_var.requires_grad


def test_no_grad_matches_torch():
    a = Variable("a", requires_grad=True)
    t = torch.tensor(1.0, requires_grad=True)
    with afnio.no_grad(), torch.no_grad():
        a2, t2 = a + a, t + t
    assert (a2.requires_grad, a2.is_leaf, a2.grad_fn) == (t2.requires_grad, t2.is_leaf, None)
    assert t2.grad_fn is None


def test_second_backward_error_matches_torch():
    t = torch.tensor(1.0, requires_grad=True)
    t_out = (t * t).sum()
    t_out.backward()
    with pytest.raises(RuntimeError, match="second time") as torch_error:
        t_out.backward()
    a = Variable("a", requires_grad=True)
    a_out = a + a
    a_out.backward(Variable("G"))
    with pytest.raises(RuntimeError, match="second time") as afnio_error:
        a_out.backward(Variable("G"))
    assert "retain_graph=True" in str(torch_error.value)
    assert "retain_graph=True" in str(afnio_error.value)
