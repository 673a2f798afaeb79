"""Op modules without a language model: Add, Sum, Split; and the package's exports."""

from __future__ import annotations

import doctest
import importlib

import pytest

import afnio
import afnio.cognitive as cog
from afnio import Variable


def test_exports():
    for name in (
        "Module",
        "Parameter",
        "Add",
        "Sum",
        "Split",
        "ChatCompletion",
        "DeterministicEvaluator",
        "ExactMatchEvaluator",
        "LMJudgeEvaluator",
        "add",
        "sum",
        "split",
        "functional",
    ):
        assert name in cog.__all__
        assert hasattr(cog, name)
    assert cog.__all__ == sorted(cog.__all__)


def test_add_module():
    x = Variable("abc", role="first input", requires_grad=True)
    out = cog.Add()(x, Variable("def", role="second input"))
    assert out.data == "abcdef" and out.role == "first input and second input"
    assert out.grad_fn.name() == "AddBackward0"
    with pytest.raises(TypeError):
        cog.Add()(x, "def")


def test_sum_module():
    out = cog.Sum()([Variable("abc"), Variable("def")])
    assert out.data == "<ITEM>abc</ITEM><ITEM>def</ITEM>"
    with pytest.raises(TypeError):
        cog.Sum()([Variable("a"), "b"])


def test_split_module_keeps_buffers():
    split = cog.Split()
    assert split.sep is None and split.maxsplit is None
    assert list(split.state_dict()) == []
    parts = split(Variable("a b c", role="sentence", requires_grad=True), sep=" ", maxsplit=1)
    assert [p.data for p in parts] == ["a", "b c"]
    assert split.sep.data == " " and split.maxsplit.data == 1
    assert list(split.state_dict()) == ["sep", "maxsplit"]
    # a later call without a separator does not reuse the previous one
    parts = split(Variable("a  b"))
    assert [p.data for p in parts] == ["a", "b"]
    assert split.sep is None and split.maxsplit.data == -1
    parts = split(Variable("a-b"), sep=Variable("-"))
    assert [p.data for p in parts] == ["a", "b"]


def test_op_modules_have_no_parameters():
    for cls in (
        cog.Add,
        cog.Sum,
        cog.Split,
        cog.ChatCompletion,
        cog.DeterministicEvaluator,
        cog.ExactMatchEvaluator,
        cog.LMJudgeEvaluator,
    ):
        module = cls()
        assert list(module.parameters()) == []
        assert module.state_dict() == {}
        assert module.load_state_dict({}).missing_keys == []


def test_unused_op_modules_round_trip_strictly():
    class Agent(cog.Module):
        def __init__(self):
            super().__init__()
            self.prompt = cog.Parameter("p", role="prompt")
            self.chat = cog.ChatCompletion()
            self.judge = cog.LMJudgeEvaluator()
            self.det = cog.DeterministicEvaluator()
            self.exact = cog.ExactMatchEvaluator()

    agent = Agent()
    assert list(agent.state_dict()) == ["prompt"]
    assert repr(agent.load_state_dict(agent.state_dict())) == "<All keys matched successfully>"


@pytest.mark.parametrize(
    "name",
    [
        "afnio.cognitive.modules.module",
        "afnio.cognitive.modules._state_dict",
        "afnio.cognitive.modules.add",
        "afnio.cognitive.modules.sum",
        "afnio.cognitive.modules.split",
        "afnio.cognitive.modules.chat_completion",
        "afnio.cognitive.modules.deterministic_evaluator",
        "afnio.cognitive.modules.exact_match_evaluator",
        "afnio.cognitive.modules.lm_judge_evaluator",
    ],
)
def test_docstring_examples(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_afnio_functional_alias():
    assert afnio.functional is cog.functional
