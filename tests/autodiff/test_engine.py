import asyncio
import random
import threading

import pytest

import afnio
import afnio.cognitive.functional as F
from afnio import Variable
from afnio.autodiff import backward
from afnio.autodiff.function import Function
from afnio.autodiff.graph import get_gradient_edge, register_graph_observer


class Tracker:
    """Counts concurrent and total backward calls of the Slow op below."""

    def __init__(self):
        self.active = 0
        self.max_active = 0
        self.calls = []
        self.rng = random.Random(0)


TRACK = Tracker()


class Slow(Function):
    """An async op whose backward sleeps a random time, like a model call."""

    @staticmethod
    def forward(ctx, x, label):
        ctx.label = label
        return Variable(f"{label}({x.data})", role=f"{label} of {x.role}")

    @staticmethod
    async def backward(ctx, grad_output):
        TRACK.active += 1
        TRACK.max_active = max(TRACK.max_active, TRACK.active)
        TRACK.calls.append((ctx.label, grad_output.data))
        try:
            await asyncio.sleep(TRACK.rng.uniform(0.0, 0.03))
        finally:
            TRACK.active -= 1
        return Variable(f"[{ctx.label}] {grad_output.data}", role="feedback"), None


@pytest.fixture(autouse=True)
def fresh_tracker():
    global TRACK
    TRACK = Tracker()
    yield


def test_diamond_appends_one_gradient_per_path():
    a = Variable("a", role="a", requires_grad=True)
    v1, v2, v3 = (Variable(f"v{i}", role=f"v{i}") for i in range(3))
    b = a + v1
    c = b + v2
    d = c + v3
    e = F.add(a, d)
    e.backward(Variable("MY_FEEDBACK", role="feedback"))
    assert len(a.grad) == 2
    assert all(g.role == "feedback to a" for g in a.grad)


def test_split_parts_share_a_node_and_need_retain_graph():
    x = Variable("first second", role="sentence", requires_grad=True)
    r = F.split(x, " ")
    r[0].backward(Variable("MY_FIRST_FEEDBACK"), retain_graph=True)
    r[1].backward(Variable("MY_SECOND_FEEDBACK"))
    prefix = "Here is the combined feedback we got for this specific sentence and other variables: "
    assert [g.data for g in x.grad] == [
        prefix + "<ITEM>MY_FIRST_FEEDBACK</ITEM><ITEM></ITEM>",
        prefix + "<ITEM></ITEM><ITEM>MY_SECOND_FEEDBACK</ITEM>",
    ]
    with pytest.raises(RuntimeError, match="Specify retain_graph=True"):
        r[0].backward(Variable("again"))


def test_retain_graph_allows_repeated_backward():
    x = Variable("x", role="x", requires_grad=True)
    y = x + Variable("y")
    y.backward(Variable("one"), retain_graph=True)
    y.backward(Variable("two"), retain_graph=True)
    y.backward(Variable("three"))
    assert [g.data[-5:] for g in x.grad] == [": one", ": two", "three"]


def test_freed_graph_fails_before_any_work():
    x = Variable("x", role="x", requires_grad=True)
    y = Slow.apply(x, "f")
    z = Slow.apply(y, "g")
    z.backward(Variable("G"))
    n_calls = len(TRACK.calls)
    with pytest.raises(RuntimeError, match="second time"):
        z.backward(Variable("G"))
    assert len(TRACK.calls) == n_calls and len(x.grad) == 1


def test_non_leaf_called_once_with_all_gradients():
    x = Variable("x", role="x", requires_grad=True)
    shared = Slow.apply(x, "shared")
    left = Slow.apply(shared, "left")
    right = Slow.apply(shared, "right")
    F.sum([left, right]).backward(Variable("G"))
    shared_calls = [c for c in TRACK.calls if c[0] == "shared"]
    assert len(shared_calls) == 1
    text = shared_calls[0][1]
    assert "[left]" in text and "[right]" in text and len(x.grad) == 1


def test_retain_grad_on_non_leaf():
    x = Variable("x", role="x", requires_grad=True)
    y = x + Variable("y", role="y")
    y.retain_grad()
    F.sum([y, y]).backward(Variable("G"))
    assert len(y.grad) == 2 and len(x.grad) == 1


def test_several_roots_at_once():
    x = Variable("x", role="x", requires_grad=True)
    a = x + Variable("a")
    b = x + Variable("b")
    backward([a, b], [Variable("GA"), Variable("GB")])
    assert sorted(g.data[-2:] for g in x.grad) == ["GA", "GB"]


def test_roots_depending_on_each_other():
    x = Variable("x", role="x", requires_grad=True)
    a = Slow.apply(x, "a")
    b = Slow.apply(a, "b")
    backward([a, b], [Variable("GA"), Variable("GB")])
    a_calls = [c for c in TRACK.calls if c[0] == "a"]
    assert len(a_calls) == 1 and "GA" in a_calls[0][1] and "GB" in a_calls[0][1]


def test_inputs_restrict_accumulation_and_work():
    x = Variable("x", role="x", requires_grad=True)
    w = Variable("w", role="w", requires_grad=True)
    left = Slow.apply(x, "left")
    right = Slow.apply(w, "right")
    F.sum([left, right]).backward(Variable("G"), inputs=[x])
    assert len(x.grad) == 1 and w.grad == []
    assert [c[0] for c in TRACK.calls] == ["left"]  # the w branch was not computed


def test_inputs_as_gradient_edges():
    x = Variable("x", role="x", requires_grad=True)
    w = Variable("w", role="w", requires_grad=True)
    (x + w).backward(Variable("G"), inputs=get_gradient_edge(w))
    assert x.grad == [] and len(w.grad) == 1


def test_inputs_errors():
    x = Variable("x", role="x", requires_grad=True)
    y = x + Variable("y")
    with pytest.raises(RuntimeError, match="cannot be empty"):
        y.backward(Variable("G"), inputs=[])
    with pytest.raises(RuntimeError, match="is not a leaf"):
        y.backward(Variable("G"), inputs=[y])
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward(Variable("G"), inputs=[Variable("z")])
    with pytest.raises(TypeError, match="`inputs`"):
        y.backward(Variable("G"), inputs="x")
    with pytest.raises(TypeError, match="`inputs` must hold"):
        y.backward(Variable("G"), inputs=["x"])


def test_root_validation():
    x = Variable("x", role="x", requires_grad=True)
    y = x + x
    with pytest.raises(TypeError, match="`variables`"):
        backward("y")
    with pytest.raises(TypeError, match="`variables`"):
        backward([y, "z"])
    with pytest.raises(TypeError, match="`grad_variables`"):
        backward(y, "G")
    with pytest.raises(TypeError, match="Each gradient must be a Variable"):
        backward([y], ["G"])
    with pytest.raises(RuntimeError, match="one gradient"):
        backward([y], [Variable("a"), Variable("b")])
    with pytest.raises(RuntimeError, match="does not require grad"):
        backward(Variable("plain"))


def test_implicit_gradient_rules():
    x = Variable("x", role="x", requires_grad=True)
    (x + x).backward()  # scalar data: starts from empty feedback
    assert [g.data for g in x.grad] == ["", ""]
    batch = Variable(["a", "b"], role="batch", requires_grad=True)
    with pytest.raises(RuntimeError, match="holds a batch"):
        (batch + batch).backward()


def test_leaf_root_accumulates_directly():
    x = Variable("x", role="x", requires_grad=True)
    backward(x, Variable("direct"))
    assert x.grad[0].data == "direct"


def test_independent_nodes_run_concurrently():
    leaves = [Variable(f"x{i}", role=f"x{i}", requires_grad=True) for i in range(8)]
    outs = [Slow.apply(v, f"op{i}") for i, v in enumerate(leaves)]
    F.sum(outs).backward(Variable("G"))
    assert TRACK.max_active == 8
    assert all(len(v.grad) == 1 for v in leaves)


def _run_graph(seed):
    global TRACK
    TRACK = Tracker()
    TRACK.rng = random.Random(seed)
    x = Variable("x", role="x", requires_grad=True)
    y = Variable("y", role="y", requires_grad=True)
    layer1 = [Slow.apply(x if i % 2 else y, f"a{i}") for i in range(6)]
    layer2 = [Slow.apply(F.sum(layer1[i : i + 3]), f"b{i}") for i in range(4)]
    F.sum(layer2).backward(Variable("G"))
    return [g.data for g in x.grad], [g.data for g in y.grad]


def test_results_do_not_depend_on_completion_order():
    first = _run_graph(1)
    for seed in (2, 3, 4):
        assert _run_graph(seed) == first
    assert len(first[0]) == 3 and len(first[1]) == 3


def test_backward_inside_a_running_event_loop():
    x = Variable("x", role="x", requires_grad=True)

    async def main():
        y = Slow.apply(x, "f")
        y.backward(Variable("G"))  # a plain call, as in a Jupyter cell
        return len(x.grad)

    assert asyncio.run(main()) == 1


def test_backward_from_another_thread():
    x = Variable("x", role="x", requires_grad=True)
    errors = []

    def work():
        try:
            Slow.apply(x, "f").backward(Variable("G"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == [] and len(x.grad) == 4


class Failing(Function):
    @staticmethod
    def forward(ctx, x):
        return Variable("out", role="out")

    @staticmethod
    async def backward(ctx, grad_output):
        await asyncio.sleep(0.01)
        raise ValueError("model unavailable")


def test_failed_pass_leaves_no_partial_gradients():
    x = Variable("x", role="x", requires_grad=True)
    w = Variable("w", role="w", requires_grad=True)
    good = x + Variable("c")
    bad = Failing.apply(w)
    events = []
    with register_graph_observer(events.append), pytest.raises(ValueError, match="unavailable"):
        F.sum([good, bad]).backward(Variable("G"))
    assert x.grad == [] and w.grad == []
    assert events[-1].kind == "backward_finished" and isinstance(events[-1].error, ValueError)


def test_sync_user_backward_runs_off_the_loop_thread():
    class Blocking(Function):
        @staticmethod
        def forward(ctx, x):
            return Variable("o", role="o")

        @staticmethod
        def backward(ctx, grad_output):
            ctx.thread = threading.current_thread().name
            # blocking afnio calls are allowed here
            with afnio.enable_grad():
                inner = Slow.apply(Variable("i", requires_grad=True), "inner")
            inner.backward(Variable("nested"))
            return Variable("g", role="fb")

    x = Variable("x", role="x", requires_grad=True)
    y = Blocking.apply(x)
    node = y.grad_fn
    y.backward(Variable("G"))
    assert node.thread != "afnio-engine" and x.grad[0].data == "g"


def test_blocking_call_inside_async_backward_is_refused():
    class Bad(Function):
        @staticmethod
        def forward(ctx, x):
            return Variable("o", role="o")

        @staticmethod
        async def backward(ctx, grad_output):
            with afnio.enable_grad():
                inner = Slow.apply(Variable("i", requires_grad=True), "inner")
            inner.backward(Variable("nested"))
            return Variable("g")

    with pytest.raises(RuntimeError, match="Await the async form instead"):
        Bad.apply(Variable("x", requires_grad=True)).backward(Variable("G"))


def test_gradients_do_not_require_grad():
    x = Variable("x", role="x", requires_grad=True)
    (x + x).backward(Variable("G"))
    assert all(not g.requires_grad and g.grad_fn is None for g in x.grad)


def test_create_graph_runs_backward_with_grad_enabled():
    seen = []

    class Probe(Function):
        @staticmethod
        def forward(ctx, x):
            return Variable("o", role="o")

        @staticmethod
        def backward(ctx, grad_output):
            seen.append(afnio.is_grad_enabled())
            return grad_output

    x = Variable("x", role="x", requires_grad=True)
    y = Probe.apply(x)
    y.backward(Variable("G"), retain_graph=True)
    y.backward(Variable("G"), create_graph=True)
    assert seen == [False, True]
