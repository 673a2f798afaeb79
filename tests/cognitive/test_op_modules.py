"""Op modules without a language model: Add, Sum, Split; and the package's exports."""

from __future__ import annotations

import doctest
import importlib
import io
import pickle

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
        "afnio.cognitive.modules._registries",
        "afnio.cognitive.modules._iteration",
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


# -- op modules that call models (through the local server) -----------------------------------
@pytest.fixture
def forward_model(local_server):
    from afnio.models.openai import AsyncOpenAI

    return AsyncOpenAI(base_url=local_server.base_url, api_key=local_server.api_key)


def test_chat_completion_module_keeps_its_last_call(local_server, forward_model):
    local_server.script.when(user="Italian").reply("Ciao")
    chat = cog.ChatCompletion()
    system = cog.Parameter("Greet in {language}.", role="system prompt")
    messages = [
        {"role": "system", "content": [system]},
        {"role": "user", "content": [Variable("Say hello in {language}.")]},
    ]
    out = chat(forward_model, messages, inputs={"language": "Italian"}, model="gpt-4o-mini")
    assert out.data == "Ciao" and out.grad_fn.name() == "ChatCompletionBackward0"
    assert chat.forward_model_client is forward_model
    assert chat.messages is messages
    assert chat.completion_args == {"model": "gpt-4o-mini"}
    sd = chat.state_dict()
    assert list(sd) == ["messages", "forward_model_client", "completion_args"]
    assert sd["forward_model_client"]["class_type"] == "AsyncOpenAI"
    fresh = cog.ChatCompletion()
    with pytest.raises(RuntimeError, match="Missing model client for 'forward_model_client'"):
        fresh.load_state_dict(sd)
    fresh.load_state_dict(sd, model_clients={"forward_model_client": forward_model})
    assert fresh.messages[0]["content"][0].data == "Greet in {language}."
    with pytest.raises(TypeError, match="Cannot assign 'list' as chat 'messages'"):
        chat(forward_model, [], model="gpt-4o-mini")


def test_evaluator_modules_accept_lambdas_but_refuse_to_save_them():
    evaluator = cog.DeterministicEvaluator()
    prediction = Variable(["green", "blue"], role="color", requires_grad=True)
    score, explanation = evaluator(
        prediction,
        ["red", "blue"],
        lambda p, t: int(p == t),
        "exact match",
        None,
        sum,
        "summation",
    )
    assert score.data == 1
    assert explanation.role == "Evaluation result explanation of color"
    assert evaluator.eval_fn_purpose.data == "exact match"
    assert evaluator.reduction_fn is sum
    with pytest.raises(pickle.PicklingError, match="'eval_fn'.*module level"):
        afnio.save(evaluator.state_dict(), io.BytesIO())


def test_exact_match_module(local_server):
    evaluator = cog.ExactMatchEvaluator()
    score, _ = evaluator(Variable(["a", "b"], role="answer"), ["a", "c"])
    assert score.data == 1
    assert evaluator.reduction_fn is sum and evaluator.reduction_fn_purpose.data == "summation"
    buffer = io.BytesIO()
    afnio.save(evaluator.state_dict(), buffer)  # builtins save fine
    buffer.seek(0)
    fresh = cog.ExactMatchEvaluator()
    fresh.load_state_dict(afnio.load(buffer))
    assert fresh.reduction_fn is sum


def test_lm_judge_module(local_server, forward_model):
    local_server.script.when(schema="evaluation").reply(
        {"score": False, "explanation": "The translation is Spanish, not Italian."}
    )
    judge = cog.LMJudgeEvaluator()
    messages = [
        {
            "role": "user",
            "content": [Variable("Is {prediction} the Italian of {target}? Answer in JSON.")],
        }
    ]
    prediction = Variable("Hola", role="translation", requires_grad=True)
    score, explanation = judge(
        forward_model, messages, prediction, target="Hello", model="gpt-4o-mini"
    )
    assert score.data is False
    assert "Spanish" in explanation.data
    assert judge.forward_model_client is forward_model and judge.messages is messages
    assert judge.eval_mode.data is True and judge.completion_args == {"model": "gpt-4o-mini"}
    assert list(judge.state_dict()) == [
        "reduction_fn_purpose",
        "eval_mode",
        "messages",
        "forward_model_client",
        "completion_args",
        "reduction_fn",
    ]
