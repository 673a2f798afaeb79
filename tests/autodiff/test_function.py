import pytest

import afnio
from afnio import Variable
from afnio.autodiff.decorators import evaluator
from afnio.autodiff.function import Function


class Reverse(Function):
    @staticmethod
    def forward(ctx, x, note="plain"):
        ctx.save_for_backward(x, note)
        ctx.extra = "kept"
        return Variable(x.data[::-1], role=f"reversed {x.role}")

    @staticmethod
    def backward(ctx, grad_output):
        x, note = ctx.saved_variables
        assert ctx.extra == "kept"
        return Variable(f"{note}: {grad_output.data}", role=f"feedback to {x.role}"), None


class ReverseWithSetup(Function):
    @staticmethod
    def forward(x):
        return Variable(x.data[::-1], role="reversed")

    @staticmethod
    def setup_context(ctx, inputs, output):
        (x,) = inputs
        ctx.save_for_backward(x)
        ctx.output_data = output.data

    @staticmethod
    def backward(ctx, grad_output):
        (x,) = ctx.saved_variables
        return Variable(f"{ctx.output_data}|{grad_output.data}", role="fb")


class Messages(Function):
    """Takes Variables nested in lists and dicts, like chat messages and inputs."""

    @staticmethod
    def forward(ctx, client, messages, inputs=None, **kwargs):
        ctx.n = sum(len(m["content"]) for m in messages) + len(inputs or {})
        text = " ".join(v.data for m in messages for v in m["content"])
        return Variable(text, role="response")

    @staticmethod
    def backward(ctx, grad_output):
        return tuple(Variable(f"g{i}", role="fb") for i in range(ctx.n))


def test_both_forward_styles():
    x = Variable("abc", role="word", requires_grad=True)
    y = Reverse.apply(x, "note")
    assert y.data == "cba" and y.grad_fn.name() == "ReverseBackward0"
    y.backward(Variable("G"))
    assert x.grad[0].data == "note: G"
    z = ReverseWithSetup.apply(x)
    assert z.grad_fn.name() == "ReverseWithSetupBackward0"
    z.backward(Variable("H"))
    assert x.grad[1].data == "cba|H"


def test_ctx_attributes_and_needs_input_grad():
    x = Variable("abc", requires_grad=True)
    y = Reverse.apply(x, "note")
    ctx = y.grad_fn
    assert ctx.needs_input_grad == (True, False)
    assert ctx.saved_variables == (x, "note")
    assert ctx.saved_tensors == ctx.saved_variables
    z = Reverse.apply(Variable("abc"), note="n")
    assert z.grad_fn is None and z.requires_grad is False


def test_saved_variables_freed_after_backward():
    x = Variable("abc", requires_grad=True)
    y = Reverse.apply(x)
    ctx = y.grad_fn
    y.backward(Variable("G"))
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        ctx.saved_variables
    with pytest.raises(RuntimeError, match="backward through the graph a second time"):
        y.backward(Variable("G"))


def test_nested_variables_get_edges():
    system = Variable("sys", role="system", requires_grad=True)
    user = Variable("usr", role="user")
    extra = Variable("inp", role="input", requires_grad=True)
    messages = [{"role": "system", "content": [system]}, {"role": "user", "content": [user]}]
    out = Messages.apply("client", messages, inputs={"x": extra}, model="m")
    edges = out.grad_fn.next_functions
    assert [e.node is None for e in edges] == [False, True, False]
    assert out.grad_fn.needs_input_grad == (False, True, True, False)
    out.backward(Variable("G"))
    assert system.grad[0].data == "g0" and extra.grad[0].data == "g2"


def test_backward_with_one_slot_per_argument():
    class PerArgument(Function):
        @staticmethod
        def forward(ctx, x, sep, items):
            return Variable(x.data, role="out")

        @staticmethod
        def backward(ctx, grad_output):
            # x, sep (not a Variable), then the two Variables inside `items`
            return Variable("gx"), None, Variable("g1"), Variable("g2")

    x = Variable("x", requires_grad=True)
    a, b = Variable("a", requires_grad=True), Variable("b", requires_grad=True)
    PerArgument.apply(x, " ", [a, b]).backward(Variable("G"))
    assert [x.grad[0].data, a.grad[0].data, b.grad[0].data] == ["gx", "g1", "g2"]


def test_wrong_number_of_gradients():
    class Bad(Function):
        @staticmethod
        def forward(ctx, x, y):
            return Variable("o")

        @staticmethod
        def backward(ctx, grad_output):
            return (Variable("g"),)

    out = Bad.apply(Variable("x", requires_grad=True), Variable("y"))
    with pytest.raises(RuntimeError, match="incorrect number of gradients"):
        out.backward(Variable("G"))


def test_gradient_for_non_variable_argument_rejected():
    class Bad(Function):
        @staticmethod
        def forward(ctx, x, sep):
            return Variable("o")

        @staticmethod
        def backward(ctx, grad_output):
            return Variable("g"), Variable("not allowed")

    out = Bad.apply(Variable("x", requires_grad=True), " ")
    with pytest.raises(RuntimeError, match="argument that is not a Variable"):
        out.backward(Variable("G"))


def test_non_variable_gradient_rejected():
    class Bad(Function):
        @staticmethod
        def forward(ctx, x):
            return Variable("o")

        @staticmethod
        def backward(ctx, grad_output):
            return "text"

    with pytest.raises(TypeError, match="gradients must be Variables"):
        Bad.apply(Variable("x", requires_grad=True)).backward(Variable("G"))


def test_tuple_outputs_and_output_nr():
    class Two(Function):
        @staticmethod
        def forward(ctx, x):
            return Variable("a"), Variable("b")

        @staticmethod
        def backward(ctx, ga, gb):
            parts = [g.data if g is not None else "-" for g in (ga, gb)]
            return Variable("/".join(parts))

    x = Variable("x", requires_grad=True)
    a, b = Two.apply(x)
    assert (a.output_nr, b.output_nr) == (0, 1) and a.grad_fn is b.grad_fn
    b.backward(Variable("B"))
    assert x.grad[0].data == "-/B"


def test_forward_must_return_variables():
    class Bad(Function):
        @staticmethod
        def forward(ctx, x):
            return "text"

    with pytest.raises(TypeError, match="must return a Variable or a tuple of Variables"):
        Bad.apply(Variable("x"))


def test_returning_an_input_does_not_rewire_it():
    class Identity(Function):
        @staticmethod
        def forward(ctx, x):
            return x

        @staticmethod
        def backward(ctx, g):
            return g

    x = Variable("x", requires_grad=True)
    y = Identity.apply(x)
    assert y is not x and x.is_leaf and x.grad_fn is None and y.grad_fn is not None


def test_async_forward_and_backward():
    class Slow(Function):
        @staticmethod
        async def forward(ctx, x):
            import asyncio

            await asyncio.sleep(0.01)
            return Variable(x.data + "!", role="out")

        @staticmethod
        async def backward(ctx, g):
            import asyncio

            await asyncio.sleep(0.01)
            return Variable(f"async {g.data}", role="fb")

    x = Variable("x", requires_grad=True)
    y = Slow.apply(x)
    assert y.data == "x!"
    y.backward(Variable("G"))
    assert x.grad[0].data == "async G"


def test_function_cannot_be_instantiated():
    with pytest.raises(RuntimeError, match="should not be instantiated"):
        Reverse()
    with pytest.raises(RuntimeError, match="subclass of Function"):
        Function.apply(Variable("x"))


def test_base_methods_raise():
    class Nothing(Function):
        pass

    with pytest.raises(NotImplementedError, match="You must implement the forward function"):
        Nothing.apply(Variable("x"))
    with pytest.raises(NotImplementedError, match="setup_context is not implemented"):
        Function.setup_context(None, (), None)
    with pytest.raises(NotImplementedError, match="You must implement the backward"):
        Function.backward(None)


def test_evaluator_decorator():
    @evaluator
    class Score(Function):
        @staticmethod
        def forward(ctx, prediction):
            return Variable(1, role="score"), Variable("why", role="explanation")

        @staticmethod
        def backward(ctx, score_grad, explanation_grad):
            assert score_grad is None and explanation_grad.data == ""
            return Variable("do better", role="fb")

    assert Score._is_evaluator
    p = Variable("pred", requires_grad=True)
    score, explanation = Score.apply(p)
    explanation.backward()  # no gradient needed for evaluator outputs
    assert p.grad[0].data == "do better"
    with pytest.raises(TypeError, match="applied to a class, not an instance"):
        evaluator(Variable("x"))
    with pytest.raises(TypeError, match="subclass of Function"):
        evaluator(dict)


def test_grad_mode_is_off_inside_forward():
    class Probe(Function):
        @staticmethod
        def forward(ctx, x):
            ctx.enabled = afnio.is_grad_enabled()
            inner = x + x  # no graph inside an op
            ctx.inner_has_graph = inner.grad_fn is not None
            return inner

        @staticmethod
        def backward(ctx, g):
            return g

    y = Probe.apply(Variable("x", requires_grad=True))
    assert y.grad_fn.enabled is False and y.grad_fn.inner_has_graph is False


def test_the_design_is_in_the_types():
    import typing

    from afnio.autodiff import graph
    from afnio.autodiff.basic_ops import Add
    from afnio.autodiff.function import Function, FunctionCtx
    from afnio.models.records import ModelCall

    names = {"ModelCall": ModelCall, "Variable": Variable}  # imported for type checking only

    def hints(obj):
        return typing.get_type_hints(obj, localns=names)

    assert typing.get_args(graph.EventKind) == graph.EVENT_KINDS
    assert hints(graph.GraphEvent)["kind"] == graph.EventKind
    assert hints(graph.GraphEvent)["record"] == ModelCall | None
    assert hints(graph.Node.calls.fget)["return"] == tuple[ModelCall, ...]
    for method in (Function.backward, Function.setup_context, Add.forward, Add.backward):
        assert hints(method)["ctx"] is FunctionCtx
