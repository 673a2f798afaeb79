"""Optimizer base class: parameter groups, state, clear_grad, state dicts, printing."""

from __future__ import annotations

import doctest
import importlib
import pickle

import pytest

import afnio
from afnio import Variable
from afnio.cognitive import Parameter
from afnio.models.model import ChatCompletionModel
from afnio.optim import Optimizer


class FakeChat(ChatCompletionModel):
    pass


def leaf(text: str = "x") -> Variable:
    return Variable(text, requires_grad=True)


def test_param_list_becomes_one_group_with_defaults():
    a, b = leaf("a"), leaf("b")
    opt = Optimizer((p for p in [a, b]), {"momentum": 0, "tag": "t"})
    assert opt.param_groups == [{"params": [a, b], "momentum": 0, "tag": "t"}]
    assert opt.state == {}
    opt.state[a]["x"] = 1  # a defaultdict(dict)
    assert opt.state[a] == {"x": 1}


def test_groups_override_defaults():
    a, b = leaf(), leaf()
    opt = Optimizer([{"params": [a]}, {"params": b, "momentum": 2}], {"momentum": 0})
    assert [g["momentum"] for g in opt.param_groups] == [0, 2]
    assert opt.param_groups[1]["params"] == [b]


@pytest.mark.parametrize(
    "params, error, match",
    [
        (leaf(), TypeError, "should be an iterable of Variables or dicts"),
        ({leaf()}, TypeError, "ordering of Variables in sets"),
        (3, TypeError, "should be an iterable"),
        ([], ValueError, "optimizer got an empty parameter list"),
        ([leaf(), "x"], TypeError, "optimizer can only optimize Variables"),
        ([{"params": {leaf()}}], TypeError, "ordering of Variables in sets"),
        ([{"lr": 1}], ValueError, "must have a 'params' entry"),
    ],
)
def test_invalid_params(params, error, match):
    with pytest.raises(error, match=match):
        Optimizer(params, {})


def test_duplicates_and_non_leaves():
    a = leaf()
    with pytest.raises(ValueError, match="duplicate parameters"):
        Optimizer([a, a], {})
    with pytest.raises(ValueError, match="more than one parameter group"):
        Optimizer([{"params": [a]}, {"params": [a]}], {})
    non_leaf = a + Variable("y")
    with pytest.raises(ValueError, match="can't optimize a non-leaf Variable"):
        Optimizer([non_leaf], {})


def test_add_param_group_appends_to_the_same_list():
    opt = Optimizer([leaf()], {"momentum": 1})
    groups = opt.param_groups
    b = leaf("b")
    opt.add_param_group({"params": [b]})
    assert opt.param_groups is groups and len(groups) == 2
    assert groups[1] == {"params": [b], "momentum": 1}
    with pytest.raises(TypeError, match="param_group must be a dict"):
        opt.add_param_group([b])
    with pytest.raises(ValueError, match="more than one parameter group"):
        opt.add_param_group({"params": [b]})


def test_clear_grad_keeps_list_objects():
    a, b = leaf(), leaf()
    a.append_grad(Variable("g1"))
    lists = (a.grad, b.grad)
    opt = Optimizer([a, b], {})
    opt.clear_grad()
    assert (a.grad, b.grad) == ([], []) and a.grad is lists[0] and b.grad is lists[1]
    a.append_grad(Variable("g2"))
    opt.zero_grad()
    assert a.grad == [] and a.grad is lists[0]


def test_step_is_abstract():
    with pytest.raises(NotImplementedError, match="Optimizer does not implement step"):
        Optimizer([leaf()], {}).step()


def test_state_dict_numbers_params_across_groups_and_packs_models():
    a, b, c = leaf("a"), leaf("b"), leaf("c")
    model = FakeChat(provider="fake")
    opt = Optimizer([{"params": [a, b]}, {"params": [c]}], {"model_client": model, "k": "text"})
    opt.state[c]["note"] = "a plain string stays a string"
    sd = opt.state_dict()
    assert [g["params"] for g in sd["param_groups"]] == [[0, 1], [2]]
    assert sd["param_groups"][0]["model_client"] == {
        "class_type": "FakeChat",
        "provider": "fake",
        "usage": {"cost": {"amount": 0.0, "currency": "USD"}},
    }
    assert sd["state"] == {2: {"note": "a plain string stays a string"}}


def test_load_state_dict_checks_before_changing():
    a, b = leaf("a"), leaf("b")
    model = FakeChat(provider="fake")
    model.update_usage({"prompt_tokens": 4, "cost": {"amount": 0.25, "currency": "USD"}})
    saved = Optimizer([a, b], {"model_client": model, "messages": [Variable("m")], "k": 1})
    saved.state[b]["momentum_buffer"] = [(Variable("old"), [Variable("fb")])]
    saved.state[a]["note"] = "text"
    sd = saved.state_dict()

    x, y = leaf("x"), leaf("y")
    target = Optimizer([x, y], {"model_client": None, "messages": [], "k": 0})
    groups = target.param_groups
    with pytest.raises(
        ValueError,
        match=r"Missing model client for 'model_client' of expected type 'FakeChat'. Please "
        r"provide an instance of 'FakeChat' using the `model_clients` input dictionary and "
        r"retry the `load_state_dict\(\)` operation.",
    ):
        target.load_state_dict(sd)
    assert target.param_groups[0]["k"] == 0  # nothing changed

    class Other(ChatCompletionModel):
        pass

    with pytest.raises(TypeError, match="must be an instance of 'FakeChat'"):
        target.load_state_dict(sd, model_clients={"model_client": Other()})

    client = FakeChat(provider="fake")
    target.load_state_dict(sd, model_clients={"model_client": client})
    assert target.param_groups is groups
    group = target.param_groups[0]
    assert group["params"] == [x, y] and group["k"] == 1 and group["model_client"] is client
    assert (
        group["messages"][0].data == "m"
        and group["messages"][0] is not sd["param_groups"][0]["messages"][0]
    )
    assert target.state[x] == {"note": "text"}  # strings are not mangled
    [(snapshot, grads)] = target.state[y]["momentum_buffer"]
    assert snapshot.data == "old" and grads[0].data == "fb"
    assert snapshot is not sd["state"][1]["momentum_buffer"][0][0]
    assert client.get_usage()["prompt_tokens"] == 4
    assert client.get_usage()["cost"]["amount"] == pytest.approx(0.25)


def test_load_state_dict_shape_errors():
    sd = Optimizer([leaf(), leaf()], {}).state_dict()
    with pytest.raises(ValueError, match="different number of parameter groups"):
        Optimizer([{"params": [leaf()]}, {"params": [leaf()]}], {}).load_state_dict(sd)
    with pytest.raises(ValueError, match="doesn't match the size of optimizer's group"):
        Optimizer([leaf()], {}).load_state_dict(sd)
    with pytest.raises(TypeError, match="dict-like"):
        Optimizer([leaf()], {}).load_state_dict([])
    with pytest.raises(ValueError, match="'state' and 'param_groups'"):
        Optimizer([leaf()], {}).load_state_dict({"state": {}})


def test_live_clients_in_a_state_dict_are_kept():
    model = FakeChat()
    sd = Optimizer([leaf()], {"model_client": FakeChat()}).state_dict()
    sd["param_groups"][0]["model_client"] = model
    target = Optimizer([leaf()], {"model_client": None})
    target.load_state_dict(sd)
    assert target.param_groups[0]["model_client"] is model


def test_repr_and_pickle_state():
    opt = Optimizer([leaf()], {"momentum": 2, "constraints": ["be short"]})
    assert repr(opt) == (
        "Optimizer (\nParameter Group 0\n    constraints: ['be short']\n    momentum: 2\n)"
    )
    state = opt.__getstate__()
    assert set(state) == {"defaults", "state", "param_groups"}
    clone = pickle.loads(pickle.dumps(opt))
    assert clone.defaults == opt.defaults and clone.param_groups[0]["momentum"] == 2


def test_save_and_load_state_dict_file(tmp_path):
    p = Parameter("x", role="r")
    opt = Optimizer([p], {"momentum": 1})
    opt.state[p]["momentum_buffer"] = [(Variable("x0"), [Variable("g")])]
    afnio.save(opt.state_dict(), tmp_path / "opt.hf")
    loaded = afnio.load(tmp_path / "opt.hf")
    assert loaded["state"][0]["momentum_buffer"][0][0].data == "x0"


@pytest.mark.parametrize(
    "name", ["afnio.optim.optimizer", "afnio.optim.tgd", "afnio.optim._prompts"]
)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0
