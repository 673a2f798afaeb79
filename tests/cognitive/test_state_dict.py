"""Module.state_dict / load_state_dict, including the decisions on the original's quirks."""

from __future__ import annotations

import copy
import io
import pickle

import pytest

import afnio
import afnio.cognitive as cog
from afnio import Variable
from afnio.cognitive import Module, Parameter
from afnio.models.model import ChatCompletionModel
from afnio.serialization import add_safe_globals, clear_safe_globals


class FakeChat(ChatCompletionModel):
    async def achat(self, *, messages, **kwargs):  # pragma: no cover - never called here
        return "ok"


def exact(p, t):
    return int(p == t)


class Agent(Module):
    def __init__(self) -> None:
        super().__init__()
        self.prompt = Parameter("Be brief.", role="system prompt")
        self.frozen = Parameter("Topics: math.", role="topics", requires_grad=False)
        self.register_buffer("sep", Variable(" | ", role="separator"))
        self.register_buffer("scratch", Variable("tmp"), persistent=False)
        self.messages = [{"role": "system", "content": [self.prompt, self.frozen]}]
        self.args = {"temperature": 0}
        self.fn = exact
        self.chat = cog.ChatCompletion()  # never run: all its members are None

    def forward(self, x):  # pragma: no cover - not used
        return x


def roundtrip(obj):
    buffer = io.BytesIO()
    afnio.save(obj, buffer)
    buffer.seek(0)
    return afnio.load(buffer)


# -- state_dict ------------------------------------------------------------------------------
def test_state_dict_order_and_contents():
    agent = Agent()
    agent.model = FakeChat(provider="fake")
    sd = agent.state_dict()
    assert list(sd) == ["prompt", "frozen", "sep", "messages", "model", "args", "fn"]
    assert type(sd["prompt"]) is Variable and sd["prompt"].requires_grad is False
    assert sd["prompt"].data == "Be brief." and sd["prompt"].role == "system prompt"
    assert sd["prompt"] is not agent.prompt
    assert sd["messages"][0]["role"] == "system"
    assert [v.data for v in sd["messages"][0]["content"]] == ["Be brief.", "Topics: math."]
    assert sd["messages"][0]["content"][0] is not agent.prompt
    assert sd["model"] == {
        "class_type": "FakeChat",
        "provider": "fake",
        "usage": {"cost": {"amount": 0.0, "currency": "USD"}},
    }
    assert sd["args"] == {"temperature": 0} and sd["args"] is not agent.args
    assert sd["fn"] is exact
    assert sd._metadata == {"": {"version": 1}, "chat": {"version": 1}}


def test_state_dict_keep_vars_prefix_destination():
    agent = Agent()
    sd = agent.state_dict(keep_vars=True)
    assert sd["prompt"] is agent.prompt
    assert sd["messages"][0]["content"][0] is agent.prompt
    dest: dict = {}
    out = agent.state_dict(destination=dest, prefix="agent.")
    assert out is dest and "agent.prompt" in dest


def test_children_are_prefixed():
    outer = Module()
    outer.inner = Agent()
    outer.inner.chat.completion_args = {"seed": 1}
    sd = outer.state_dict()
    assert "inner.prompt" in sd and sd["inner.chat.completion_args"] == {"seed": 1}
    assert list(sd._metadata) == ["", "inner", "inner.chat"]


# -- round trips -----------------------------------------------------------------------------
def test_strict_round_trip_with_unused_members_succeeds():
    agent = Agent()
    result = agent.load_state_dict(agent.state_dict())
    assert result.missing_keys == [] and result.unexpected_keys == []
    assert repr(result) == "<All keys matched successfully>"


def test_round_trip_through_save_and_load():
    agent = Agent()
    agent.prompt.data = "Trained prompt."
    add_safe_globals([exact])
    try:
        sd = roundtrip(agent.state_dict())
    finally:
        clear_safe_globals()
    assert sd._metadata == {"": {"version": 1}, "chat": {"version": 1}}
    fresh = Agent()
    fresh.load_state_dict(sd)
    assert fresh.prompt.data == "Trained prompt."
    assert fresh.fn is exact


def test_load_keeps_live_requires_grad():
    agent = Agent()
    sd = agent.state_dict()  # detached: requires_grad False everywhere
    sd["prompt"] = Variable("New.", role="new role", requires_grad=False)
    sd["frozen"] = Variable("New topics.", role="topics", requires_grad=True)
    agent.load_state_dict(sd)
    assert agent.prompt.data == "New." and agent.prompt.role == "new role"
    assert agent.prompt.requires_grad is True
    assert agent.frozen.data == "New topics." and agent.frozen.requires_grad is False
    assert isinstance(agent.prompt, Parameter)


def test_none_member_in_live_module_gets_assigned():
    agent = Agent()
    sd = agent.state_dict()
    sd["chat.completion_args"] = {"temperature": 1}
    sd["chat.messages"] = [{"role": "user", "content": [Variable("hi")]}]
    agent.load_state_dict(sd)
    assert agent.chat.completion_args == {"temperature": 1}
    assert agent.chat.messages[0]["content"][0].data == "hi"


def test_none_parameter_is_optional_and_assignable():
    m = Module()
    m.register_parameter("p", None)
    assert m.load_state_dict({}).missing_keys == []
    m.load_state_dict({"p": Variable("x", role="r")})
    assert isinstance(m.p, Parameter) and m.p.requires_grad and m.p.data == "x"


def test_missing_and_unexpected_keys():
    agent = Agent()
    sd = agent.state_dict()
    del sd["prompt"]
    sd["bogus"] = Variable("x")
    sd["chat.bogus"] = Variable("y")
    with pytest.raises(RuntimeError) as info:
        agent.load_state_dict(sd)
    message = str(info.value)
    assert message.startswith("Error(s) in loading state_dict for Agent:\n\t")
    assert 'Unexpected key(s) in state_dict: "bogus", "chat.bogus".' in message
    assert 'Missing key(s) in state_dict: "prompt".' in message
    result = agent.load_state_dict(sd, strict=False)
    assert result.missing_keys == ["prompt"]
    assert result.unexpected_keys == ["bogus", "chat.bogus"]
    assert "missing_keys=['prompt']" in repr(result)


def test_non_persistent_buffer_is_neither_saved_nor_expected():
    agent = Agent()
    sd = agent.state_dict()
    assert "scratch" not in sd
    sd["scratch"] = Variable("x")
    assert agent.load_state_dict(sd, strict=False).unexpected_keys == ["scratch"]


def test_type_and_size_mismatch_messages():
    m = Module()
    m.text = Parameter("a")
    m.batch = Parameter(["a", "b"])
    m.grid = Parameter([["a", "b"], ["c", "d"]])
    with pytest.raises(RuntimeError, match="Type mismatch for text: copying a non-scalar param"):
        m.load_state_dict({"text": Variable(["x"]), "batch": Variable(["a", "b"]), "grid": m.grid})
    with pytest.raises(RuntimeError, match="Type mismatch for batch: copying a scalar param"):
        m.load_state_dict({"text": Variable("x"), "batch": Variable("a"), "grid": m.grid})
    with pytest.raises(
        RuntimeError,
        match="Size mismatch for 'batch': copying a param with `.data` list of length 3 from "
        "checkpoint, but the param in the current model has length 2.",
    ):
        m.load_state_dict(
            {"text": Variable("x"), "batch": Variable(["a", "b", "c"]), "grid": m.grid}
        )
    with pytest.raises(RuntimeError, match="Size mismatch for 'grid': copying a param of shape"):
        m.load_state_dict(
            {"text": Variable("x"), "batch": Variable(["a", "b"]), "grid": Variable([["a"], ["b"]])}
        )
    with pytest.raises(
        RuntimeError, match="expected afnio.Variable from checkpoint but received str"
    ):
        m.load_state_dict({"text": "x", "batch": Variable(["a", "b"]), "grid": m.grid})


def test_failed_load_changes_nothing():
    agent = Agent()
    sd = agent.state_dict()
    sd["prompt"] = Variable("changed")
    sd["sep"] = Variable(["wrong", "shape"])  # this one fails
    sd["args"] = {"temperature": 2}
    with pytest.raises(RuntimeError, match="Type mismatch for sep"):
        agent.load_state_dict(sd)
    assert agent.prompt.data == "Be brief."
    assert agent.args == {"temperature": 0}
    assert agent.sep.data == " | "


def test_assign_replaces_members():
    agent = Agent()
    old = agent.prompt
    sd = agent.state_dict()
    sd["prompt"] = Variable("assigned", role="r")
    agent.load_state_dict(sd, assign=True)
    assert agent.prompt is not old and isinstance(agent.prompt, Parameter)
    assert agent.prompt.data == "assigned" and agent.prompt.requires_grad is True
    keep = agent.state_dict(keep_vars=True)
    frozen = Parameter("frozen value", requires_grad=False)
    keep["frozen"] = frozen
    agent.load_state_dict(keep, assign=True)
    assert agent.frozen is frozen


def test_chat_loading():
    agent = Agent()
    sd = agent.state_dict()
    template = Variable("Answer about {topic}.", role="template")
    agent.messages[0]["content"].append(template)
    sd = agent.state_dict()
    sd["messages"][0]["content"][2] = Variable("Answer about physics.", role="template")
    # a Variable that is also a parameter is loaded from its own key, not from the chat
    sd["messages"][0]["content"][0] = Variable("stale copy", role="system prompt")
    agent.load_state_dict(sd)
    assert template.data == "Answer about physics."
    assert agent.prompt.data == "Be brief."
    bad = agent.state_dict()
    bad["messages"] = [{"role": "user", "content": bad["messages"][0]["content"]}]
    with pytest.raises(RuntimeError, match=r"Role mismatch for 'messages\[0\]'"):
        agent.load_state_dict(bad)
    bad["messages"] = bad["messages"] * 2
    with pytest.raises(RuntimeError, match="copying a chat of 2 messages"):
        agent.load_state_dict(bad)
    bad["messages"] = [{"role": "system", "content": [Variable("only one")]}]
    with pytest.raises(RuntimeError, match="with 1 content Variables"):
        agent.load_state_dict(bad)
    bad["messages"] = "not a chat"
    with pytest.raises(RuntimeError, match='While copying the chat named "messages"'):
        agent.load_state_dict(bad)


def test_models_need_clients_and_restore_usage():
    agent = Agent()
    agent.model = FakeChat(provider="fake")
    agent.model.update_usage({"prompt_tokens": 10, "cost": {"amount": 0.5, "currency": "USD"}})
    sd = agent.state_dict()
    fresh = Agent()
    fresh.register_model("model", None)
    with pytest.raises(
        RuntimeError,
        match=r"Missing model client for 'model' of expected type 'FakeChat'. Please provide an "
        r"instance of 'FakeChat' using the `model_clients` dictionary when calling "
        r"`load_state_dict\(\)`.",
    ):
        fresh.load_state_dict(sd)

    class Other(ChatCompletionModel):
        pass

    with pytest.raises(RuntimeError, match="must be an instance of 'FakeChat', but got Other"):
        fresh.load_state_dict(sd, model_clients={"model": Other()})
    client = FakeChat(provider="fake")
    fresh.load_state_dict(sd, model_clients={"model": client})
    assert fresh.model is client
    usage = client.get_usage()
    assert usage["prompt_tokens"] == 10 and usage["cost"]["amount"] == pytest.approx(0.5)
    sd["model"] = "gpt"
    with pytest.raises(RuntimeError, match='expected a dict with a "class_type" key'):
        fresh.load_state_dict(sd, model_clients={"model": client})
    with pytest.raises(TypeError, match="`model_clients` must be a dict"):
        fresh.load_state_dict(sd, model_clients=[client])


def test_configs_and_functions_validation():
    agent = Agent()
    sd = agent.state_dict()
    sd["args"] = [1]
    with pytest.raises(RuntimeError, match='completion config named "args", expected a dict'):
        agent.load_state_dict(sd)
    sd = agent.state_dict()
    sd["fn"] = "exact"
    with pytest.raises(RuntimeError, match='function named "fn", expected a function'):
        agent.load_state_dict(sd)
    sd["fn"] = len
    agent.load_state_dict(sd)
    assert agent.fn is len


def test_not_a_mapping():
    with pytest.raises(TypeError, match="Expected state_dict to be dict-like, got list."):
        Agent().load_state_dict([])


def test_extra_state():
    class WithExtra(Module):
        def __init__(self):
            super().__init__()
            self.counter = 0

        def get_extra_state(self):
            return {"counter": self.counter}

        def set_extra_state(self, state):
            self.counter = state["counter"]

    m = WithExtra()
    m.counter = 7
    sd = m.state_dict()
    assert sd["_extra_state"] == {"counter": 7}
    fresh = WithExtra()
    fresh.load_state_dict(sd)
    assert fresh.counter == 7
    with pytest.raises(RuntimeError, match='Missing key\\(s\\) in state_dict: "_extra_state"'):
        fresh.load_state_dict({})


# -- functions: lambdas work in memory, saving them fails clearly -----------------------------
def test_lambda_in_memory_round_trip_and_deepcopy():
    m = Module()
    m.fn = lambda x: x
    sd = m.state_dict()
    copied = copy.deepcopy(sd)
    assert copied["fn"] is sd["fn"] and copied._metadata == sd._metadata
    assert copy.copy(sd)["fn"] is sd["fn"]
    other = Module()
    other.register_function("fn", None)
    other.load_state_dict(sd)
    assert other.fn is m.fn


def test_saving_lambda_names_the_member():
    outer = Module()
    outer.judge = cog.DeterministicEvaluator()
    outer.judge.eval_fn = lambda p, t: int(p == t)
    with pytest.raises(pickle.PicklingError) as info:
        afnio.save(outer.state_dict(), io.BytesIO())
    message = str(info.value)
    assert "'judge.eval_fn'" in message
    assert "module level" in message


def test_saving_closure_names_the_member():
    def make():
        offset = 1

        def scorer(p, t):
            return int(p == t) + offset

        return scorer

    m = Module()
    m.scorer = make()
    with pytest.raises(pickle.PicklingError, match="'scorer'.*nested function or closure"):
        afnio.save(m.state_dict(), io.BytesIO())
