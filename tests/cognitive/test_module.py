"""Module: registries, attribute dispatch, iterators, modes, gradients, printing, hooks."""

from __future__ import annotations

import pytest

import afnio
import afnio.cognitive as cog
from afnio import Variable
from afnio.cognitive import Module, Parameter
from afnio.models.model import ChatCompletionModel


class FakeChat(ChatCompletionModel):
    async def achat(self, *, messages, **kwargs):  # pragma: no cover - never called here
        return "ok"


def module_level_fn(x):
    return x


def chat(*texts: str, role: str = "system") -> list[dict]:
    return [{"role": role, "content": [Variable(t) for t in texts]}]


class Agent(Module):
    def __init__(self) -> None:
        super().__init__()
        self.prompt = Parameter("Be brief.", role="system prompt")
        self.frozen = Parameter("Topics: math.", role="topics", requires_grad=False)
        self.register_buffer("sep", Variable(" | ", role="separator"))
        self.messages = [{"role": "system", "content": [self.prompt, self.frozen]}]
        self.model = FakeChat(provider="fake")
        self.args = {"temperature": 0}
        self.fn = module_level_fn
        self.child = cog.Add()
        self.epilogue = Variable("Thanks.", role="epilogue")  # plain attribute

    def forward(self, x):
        return self.child(self.prompt, x)


# -- construction and forward ----------------------------------------------------------------
def test_init_state():
    m = Module()
    assert m.training is True
    assert m.automatic_optimization is True
    for registry in (
        "_parameters",
        "_buffers",
        "_chats",
        "_models",
        "_completion_configs",
        "_functions",
        "_modules",
    ):
        assert getattr(m, registry) == {}
    assert m._non_persistent_buffers_set == set()
    assert Module._version == 1


def test_forward_missing():
    with pytest.raises(
        NotImplementedError, match=r'Module \[Module\] is missing the required "forward"'
    ):
        Module()()


def test_call_is_forward():
    agent = Agent()
    out = agent(Variable(" Ok.", role="suffix"))
    assert out.data == "Be brief. Ok."
    assert out.grad_fn.name() == "AddBackward0"


# -- __setattr__ dispatch --------------------------------------------------------------------
def test_setattr_dispatch_by_type():
    agent = Agent()
    assert list(agent._parameters) == ["prompt", "frozen"]
    assert list(agent._buffers) == ["sep"]
    assert list(agent._chats) == ["messages"]
    assert list(agent._models) == ["model"]
    assert list(agent._completion_configs) == ["args"]
    assert list(agent._functions) == ["fn"]
    assert list(agent._modules) == ["child"]
    assert "epilogue" in agent.__dict__  # a plain Variable is not registered
    assert "prompt" not in agent.__dict__
    assert agent.prompt.data == "Be brief."


def test_builtin_functions_register_but_methods_do_not():
    m = Module()
    m.reduce = sum
    m.method = [].append  # a builtin *method*: plain attribute
    m.bound = Agent().forward
    assert list(m._functions) == ["reduce"]
    assert "method" in m.__dict__ and "bound" in m.__dict__


def test_lambdas_and_closures_register_as_functions():
    m = Module()
    m.fn = lambda x: x
    m.register_function("other", lambda x: x)
    assert list(m._functions) == ["fn", "other"]


def test_empty_list_is_a_plain_attribute():
    m = Module()
    m.x = []
    assert "x" in m.__dict__
    assert "x" not in m._chats
    assert list(m.state_dict()) == []


def test_non_message_lists_are_plain_attributes():
    m = Module()
    m.examples = [{"input": "a", "output": "b"}]
    m.openai_style = [{"role": "user", "content": "plain text"}]
    assert m._chats == {}


def test_malformed_chat_raises():
    m = Module()
    with pytest.raises(ValueError, match="must contain 'role' and 'content'"):
        m.x = [{"role": "user"}]


def test_register_chat_rejects_empty_and_invalid():
    m = Module()
    with pytest.raises(TypeError, match="empty list to chat 'c'"):
        m.register_chat("c", [])
    with pytest.raises(TypeError):
        m.register_chat("c", [{"role": "user", "content": "text"}])
    m.register_chat("c", None)
    assert m.c is None


def test_assign_before_init():
    class Early(Module):
        def __init__(self):
            self.p = Parameter("x")

    with pytest.raises(AttributeError, match="Cannot assign parameters before Module.__init__"):
        Early()

    class EarlyBuffer(Module):
        def __init__(self):
            self.register_buffer("b", Variable("x"))

    with pytest.raises(AttributeError, match=r"Cannot assign buffer before Module.__init__\(\)"):
        EarlyBuffer()


@pytest.mark.parametrize(
    "method, value",
    [
        ("register_parameter", Parameter("x")),
        ("register_buffer", Variable("x")),
        ("register_chat", chat("x")),
        ("register_model", FakeChat()),
        ("register_completion_config", {}),
        ("register_function", module_level_fn),
        ("register_module", Module()),
    ],
)
def test_registration_name_checks(method, value):
    m = Module()
    register = getattr(m, method)
    with pytest.raises(TypeError, match="name should be a string"):
        register(1, value)
    with pytest.raises(KeyError, match="contain"):
        register("a.b", value)
    with pytest.raises(KeyError, match="be empty string"):
        register("", value)
    m.plain = 1
    with pytest.raises(KeyError, match="Attribute 'plain' already exists."):
        register("plain", value)
    with pytest.raises(KeyError, match="Attribute 'forward' already exists."):
        register("forward", value)
    register("ok", value)
    register("ok", None)  # re-registering the same name is fine, None means absent


def test_registration_type_errors():
    m = Module()
    with pytest.raises(
        TypeError,
        match=r"Cannot assign 'Variable' object to parameter 'p' \(afnio.cognitive.Parameter or "
        r"None required\)\.",
    ):
        m.register_parameter("p", Variable("x"))
    with pytest.raises(
        TypeError,
        match=r"Cannot assign 'str' object to buffer 'b' \(afnio.Variable or None required\)\.",
    ):
        m.register_buffer("b", "x")
    with pytest.raises(TypeError, match="to model 'm'"):
        m.register_model("m", object())
    with pytest.raises(TypeError, match="to completion config 'c'"):
        m.register_completion_config("c", [1])
    with pytest.raises(TypeError, match="to function 'f'"):
        m.register_function("f", Agent().forward)
    with pytest.raises(TypeError, match="to function 'f'"):
        m.register_function("f", FakeChat())
    with pytest.raises(TypeError, match="is not a Module subclass"):
        m.register_module("c", object())


def test_non_leaf_parameter_rejected():
    x = Variable("a", requires_grad=True)
    y = x + Variable("b")
    p = Parameter("c", requires_grad=False)
    # give a Parameter a grad_fn the legitimate way: in-place add (a leaf that requires grad
    # refuses in-place ops, as in torch)
    p += y
    with pytest.raises(ValueError, match="Cannot assign non-leaf Variable to parameter 'p'"):
        Module().register_parameter("p", p)


def test_reassigning_registered_names_with_wrong_types():
    agent = Agent()
    with pytest.raises(
        TypeError,
        match=r"Cannot assign 'str' as parameter 'prompt' \(afnio.cognitive.Parameter or None "
        r"expected\)\.",
    ):
        agent.prompt = "text"
    with pytest.raises(TypeError, match=r"Cannot assign 'str' as buffer 'sep' \(afnio.Variable"):
        agent.sep = "x"
    with pytest.raises(TypeError, match=r"Cannot assign 'dict' as chat 'messages'"):
        agent.messages = {"a": 1}
    with pytest.raises(TypeError, match=r"Cannot assign 'list' as chat 'messages'"):
        agent.messages = []
    with pytest.raises(TypeError, match=r"Cannot assign 'str' as model 'model'"):
        agent.model = "gpt"
    with pytest.raises(TypeError, match=r"Cannot assign 'str' as completion config 'args'"):
        agent.args = "x"
    with pytest.raises(TypeError, match=r"Cannot assign 'int' as function 'fn'"):
        agent.fn = 3
    with pytest.raises(TypeError, match=r"Cannot assign 'int' as child module 'child'"):
        agent.child = 3


def test_none_keeps_registration():
    agent = Agent()
    for name in ("prompt", "sep", "messages", "model", "args", "fn", "child"):
        setattr(agent, name, None)
        assert getattr(agent, name) is None
    assert list(agent._parameters) == ["prompt", "frozen"]
    assert list(agent.named_parameters()) == [("frozen", agent.frozen)]
    assert "sep" in agent._buffers and list(agent.buffers()) == []


def test_parameter_moves_a_name_between_registries():
    m = Module()
    m.register_buffer("x", Variable("a"))
    m.x = Parameter("b")
    assert "x" not in m._buffers and m._parameters["x"].data == "b"
    m.plain = 3
    m.plain = Parameter("c")
    assert "plain" not in m.__dict__ and m.plain.data == "c"


def test_getattr_and_delattr():
    agent = Agent()
    with pytest.raises(AttributeError, match="'Agent' object has no attribute 'nope'"):
        agent.nope
    del agent.prompt
    assert "prompt" not in agent._parameters
    with pytest.raises(AttributeError):
        agent.prompt
    del agent.epilogue
    assert "epilogue" not in agent.__dict__
    agent.register_buffer("tmp", Variable("t"), persistent=False)
    del agent.tmp
    assert "tmp" not in agent._non_persistent_buffers_set


def test_dir_lists_members():
    names = dir(Agent())
    for name in ("prompt", "sep", "messages", "model", "args", "fn", "child", "forward"):
        assert name in names


# -- iterators -------------------------------------------------------------------------------
class Outer(Module):
    def __init__(self) -> None:
        super().__init__()
        self.top = Parameter("top", role="top")
        self.a = Agent()
        self.b = Agent()
        self.shared = self.a  # the same child twice


def test_named_parameters_recurse_prefix_duplicates():
    outer = Outer()
    assert [n for n, _ in outer.named_parameters()] == [
        "top",
        "a.prompt",
        "a.frozen",
        "b.prompt",
        "b.frozen",
    ]
    assert [n for n, _ in outer.named_parameters(remove_duplicate=False)] == [
        "top",
        "a.prompt",
        "a.frozen",
        "b.prompt",
        "b.frozen",
        "shared.prompt",
        "shared.frozen",
    ]
    assert [n for n, _ in outer.named_parameters(recurse=False)] == ["top"]
    assert [n for n, _ in outer.named_parameters(prefix="agent")][:2] == [
        "agent.top",
        "agent.a.prompt",
    ]
    assert next(iter(outer.parameters())) is outer.top


def test_shared_parameter_reported_once():
    m = Module()
    p = Parameter("x")
    m.p1 = p
    m.p2 = p
    assert [n for n, _ in m.named_parameters()] == ["p1"]
    assert len(list(m.named_parameters(remove_duplicate=False))) == 2


def test_all_member_iterators():
    outer = Outer()
    assert [n for n, _ in outer.named_buffers()] == ["a.sep", "b.sep"]
    assert [n for n, _ in outer.named_chats()] == ["a.messages", "b.messages"]
    assert [n for n, _ in outer.named_models()] == ["a.model", "b.model"]
    assert [n for n, _ in outer.named_completion_configs()] == ["a.args", "b.args"]
    # the same function object in two modules is a duplicate
    assert [n for n, _ in outer.named_functions()] == ["a.fn"]
    assert [n for n, _ in outer.named_functions(remove_duplicate=False)] == [
        "a.fn",
        "b.fn",
        "shared.fn",
    ]
    assert len(list(outer.buffers())) == 2
    assert len(list(outer.chats())) == 2
    assert len(list(outer.models())) == 2
    assert len(list(outer.completion_configs())) == 2
    assert list(outer.functions()) == [module_level_fn]
    assert [n for n, _ in outer.named_children()] == ["a", "b"]
    assert list(outer.children()) == [outer.a, outer.b]
    assert [n for n, _ in outer.named_modules()] == ["", "a", "a.child", "b", "b.child"]
    assert len(list(outer.modules())) == 5
    assert [n for n, _ in outer.named_modules(remove_duplicate=False)][-2:] == [
        "shared",
        "shared.child",
    ]
    assert [n for n, _ in outer.named_modules(prefix="x")][:2] == ["x", "x.a"]


def test_chats_with_same_variables_are_duplicates():
    m = Module()
    v = Variable("sys")
    m.c1 = [{"role": "system", "content": [v]}]
    m.c2 = [{"role": "system", "content": [v]}]
    m.c3 = [{"role": "user", "content": [v]}]
    assert [n for n, _ in m.named_chats()] == ["c1", "c3"]


# -- modes, grads ----------------------------------------------------------------------------
def test_train_eval():
    outer = Outer()
    assert outer.eval() is outer
    assert not outer.training and not outer.a.training and not outer.a.child.training
    assert outer.train() is outer and outer.b.child.training
    with pytest.raises(ValueError, match="Training mode is expected to be boolean."):
        outer.train("yes")


def test_requires_grad_covers_chats():
    agent = Agent()
    agent.requires_grad_(False)
    assert not agent.prompt.requires_grad and not agent.frozen.requires_grad
    agent.requires_grad_(True)
    assert agent.frozen.requires_grad
    other = Module()
    template = Variable("template {x}")
    other.c = [{"role": "user", "content": [template]}]
    assert other.requires_grad_() is other
    assert template.requires_grad


def test_empty_grad_clears_in_place():
    agent = Agent()
    agent.prompt.append_grad(Variable("shorter"))
    template = agent.messages[0]["content"][1]
    template.append_grad(Variable("more topics"))
    grads = agent.prompt.grad
    agent.empty_grad()
    assert agent.prompt.grad is grads and grads == []
    assert template.grad == []
    agent.prompt.append_grad(Variable("again"))
    agent.zero_grad()
    assert agent.prompt.grad == []


# -- printing --------------------------------------------------------------------------------
def test_repr():
    assert repr(Module()) == "Module()"
    assert repr(Outer()) == (
        "Outer(\n  (a): Agent(\n    (child): Add()\n  )\n  (b): Agent(\n    (child): Add()\n  )\n"
        "  (shared): Agent(\n    (child): Add()\n  )\n)"
    )

    class WithExtra(Module):
        def extra_repr(self):
            return "size=3"

    assert repr(WithExtra()) == "WithExtra(size=3)"
    w = WithExtra()
    w.inner = Module()
    assert repr(w) == "WithExtra(\n  size=3\n  (inner): Module()\n)"


# -- Trainer hooks ---------------------------------------------------------------------------
def test_lightning_hooks_default_errors():
    m = Module()
    for name in ("training_step", "validation_step", "test_step"):
        with pytest.raises(NotImplementedError, match=f"You must implement {name} in your Module"):
            getattr(m, name)(None, 0)
    with pytest.raises(NotImplementedError, match="You must implement configure_optimizers"):
        m.configure_optimizers()
    with pytest.raises(
        AttributeError, match=r"No optimizer found. Did you call `configure_optimizers\(\)`"
    ):
        m.optimizers()
    sentinel = object()
    m._optimizers = sentinel
    assert m.optimizers() is sentinel
    m.automatic_optimization = False
    assert m.automatic_optimization is False


def test_extra_state_defaults_raise():
    with pytest.raises(RuntimeError, match="get_extra_state"):
        Module().get_extra_state()
    with pytest.raises(RuntimeError, match="set_extra_state"):
        Module().set_extra_state({})


def test_grad_mode_does_not_affect_parameters():
    with afnio.no_grad():
        m = Module()
        m.p = Parameter("x")
    assert m.p.requires_grad


def test_deepcopy_shares_model_clients():
    import copy

    agent = Agent()
    agent._optimizers = object()
    clone = copy.deepcopy(agent)
    assert clone.model is agent.model
    assert clone.prompt is not agent.prompt and clone.prompt.data == agent.prompt.data
    assert clone.messages[0]["content"][0] is clone.prompt  # shared Variables stay shared
    assert clone.child is not agent.child and clone._optimizers is None
    clone.prompt.data = "changed"
    assert agent.prompt.data == "Be brief."


def test_nodes_are_tagged_with_the_calling_module_path():
    import afnio.cognitive.functional as F

    class Inner(Module):
        def forward(self, x):
            return F.add(x, x)

    class Outer(Module):
        def __init__(self):
            super().__init__()
            self.inner = Inner()

        def forward(self, x):
            return F.sum([self.inner(x), x])

    x = Variable("a", role="a", requires_grad=True)
    out = Outer()(x)
    assert out.grad_fn.metadata["module"] == "Outer"
    inner_node = out.grad_fn.next_functions[0].node
    assert inner_node.metadata["module"] == "Outer.inner"
    assert "module" not in F.add(x, x).grad_fn.metadata  # outside any module
