"""Evaluators: exact templates and roles, batching and reduction, the eval_fn contract,
success_fn, the LM judge's structured output, and their backward passes."""

from __future__ import annotations

import pytest

import afnio
import afnio.cognitive.functional as F
from afnio._model_client import ModelClientSingleton
from afnio.lm import DeterministicEvaluator, ExactMatchEvaluator, LMJudgeEvaluator
from afnio.models import AsyncOpenAI, OpenAI
from afnio.testing import Reply
from afnio.testing.pytest_plugin import local_server

__all__ = ["local_server"]

KEY = "sk-evaluator-test-key-5555"


def exact(p, t):
    return int(p == t)


def length_diff(preds, targets):
    return [abs(len(p) - len(t)) for p, t in zip(preds, targets)]


length_diff.batched = True  # type: ignore[attr-defined]


def all_correct(scores):
    return all(s == 1 for s in scores)


def feedback_reply(request):
    schema = request.schema
    if not schema or schema.get("required") == ["score", "explanation"]:
        return None
    return {name: f"improve {name}" for name in schema["required"]}


@pytest.fixture
def backward(local_server):
    local_server.script.when(schema="variable_feedback").reply(feedback_reply)
    afnio.set_backward_model_client(
        "openai/gpt-4o-mini", client_args={"base_url": local_server.base_url, "api_key": KEY}
    )
    yield afnio.get_backward_model_client()
    ModelClientSingleton._instance = None


@pytest.fixture(params=[AsyncOpenAI, OpenAI], ids=["async", "sync"])
def judge(request, local_server):
    return request.param(base_url=local_server.base_url, api_key=KEY, retry_base_delay=0.01)


# -- deterministic evaluators ----------------------------------------------------------------------


def test_exact_match_scalar_template_and_roles():
    pred = afnio.Variable("green", role="color prediction", requires_grad=True)
    score, explanation = F.exact_match_evaluator(pred, "red")
    assert score.data == 0
    assert explanation.data == (
        "The evaluation function, designed for 'exact match', compared the <DATA> field of the "
        "predicted variable ('green') with the <DATA> field of the target variable ('red'), "
        "resulting in a score: 0."
    )
    assert score.role == "Evaluation result score of color prediction"
    assert explanation.role == "Evaluation result explanation of color prediction"
    assert score.requires_grad and explanation.requires_grad
    assert score.grad_fn is explanation.grad_fn
    assert (score.output_nr, explanation.output_nr) == (0, 1)
    assert score.grad_fn.name() == "ExactMatchEvaluatorBackward0"


def test_deterministic_batch_with_reduction():
    pred = afnio.Variable(["green", "blue"], role="colors", requires_grad=True)
    score, explanation = F.deterministic_evaluator(
        pred, afnio.Variable(["red", "blue"]), exact, "exact match", None, sum, "summation"
    )
    assert score.data == 1
    assert explanation.data == (
        "The evaluation function, designed for 'exact match', compared the <DATA> fields of the "
        "predicted variable and the target variable across all samples in the batch, generating "
        "individual scores for each pair. These scores were then aggregated using the reduction "
        "function 'summation', resulting in a final aggregated score: 1."
    )


def test_batch_without_reduction_gives_lists():
    pred = afnio.Variable(["a", "b"], role="letters")
    score, explanation = DeterministicEvaluator.apply(
        pred, ["a", "c"], exact, afnio.Variable("exact match"), None, None, None
    )
    assert score.data == [1, 0]
    assert explanation.data[1].endswith("('b') with the <DATA> field of the target variable "
                                        "('c'), resulting in a score: 0.")  # fmt: skip


def test_eval_fn_gets_raw_data_per_sample():
    seen = []

    def record(p, t):
        seen.append((p, t))
        return 1

    DeterministicEvaluator.apply(
        afnio.Variable([1, 2]), afnio.Variable([3, 4]), record, "x", None, sum, "summation"
    )
    assert seen == [(1, 3), (2, 4)]


def test_batched_eval_fn_and_its_length_check():
    pred = afnio.Variable(["aa", "b"], role="words")
    score, _ = F.deterministic_evaluator(pred, ["a", "b"], length_diff, "length", None, None, None)
    assert score.data == [1, 0]

    def too_few(preds, targets):
        return [0]

    too_few.batched = True  # type: ignore[attr-defined]
    with pytest.raises(ValueError, match="must return 2 scores"):
        F.deterministic_evaluator(pred, ["a", "b"], too_few, "length", None, None, None)


def test_deterministic_errors():
    pred = afnio.Variable(["a", "b"], role="letters")
    with pytest.raises(ValueError, match="same number of samples"):
        F.exact_match_evaluator(pred, ["a"])
    with pytest.raises(ValueError, match="eval_fn_purpose"):
        F.deterministic_evaluator(pred, ["a", "b"], exact, "  ", None, sum, "summation")
    with pytest.raises(ValueError, match="reduction_fn_purpose"):
        F.deterministic_evaluator(pred, ["a", "b"], exact, "match", None, sum, "")
    with pytest.raises(TypeError, match="prediction"):
        F.exact_match_evaluator("a", "a")
    with pytest.raises(TypeError, match="eval_fn"):
        F.deterministic_evaluator(pred, ["a", "b"], "exact", "match", None, sum, "s")
    with pytest.raises(TypeError, match="success_fn"):
        F.deterministic_evaluator(pred, ["a", "b"], exact, "match", 3, sum, "s")
    with pytest.raises(TypeError, match="target"):
        F.exact_match_evaluator(pred, {"a": 1})
    with pytest.raises(TypeError, match="number or a bool"):
        F.deterministic_evaluator(pred, ["a", "b"], lambda p, t: "yes", "m", None, None, None)


def test_exact_match_backward_one_call_per_batch(local_server, backward):
    pred = afnio.Variable(["green", "blue", "red"], role="colors", requires_grad=True)
    _, explanation = F.exact_match_evaluator(pred, ["red", "blue", "green"])
    explanation.backward()
    (request,) = local_server.requests
    fmt = request.body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["schema"]["required"] == ["sample_1", "sample_2", "sample_3"]
    prompt = request.body["messages"][1]["content"]
    assert "designed for 'exact match'" in prompt
    assert (
        "<PREDICTION>\ngreen\n</PREDICTION>\n<TARGET>\nred\n</TARGET>\n<SCORE>0</SCORE>" in prompt
    )
    assert len(pred.grad) == 1
    assert pred.grad[0].data == ["improve sample_1", "improve sample_2", "improve sample_3"]
    assert pred.grad[0].role == "feedback to colors"
    assert explanation.grad_fn.calls[0].phase == "backward"


def test_scalar_backward(local_server, backward):
    pred = afnio.Variable("green", role="color", requires_grad=True)
    score, explanation = F.exact_match_evaluator(pred, "red")
    explanation.backward()
    assert pred.grad[0].data == "improve feedback"


def test_success_fn_skips_the_model(local_server, backward):
    pred = afnio.Variable(["a", "b"], role="letters", requires_grad=True)
    _, explanation = F.deterministic_evaluator(
        pred, ["a", "b"], exact, "exact match", all_correct, sum, "summation"
    )
    explanation.backward()
    assert local_server.requests == []
    assert pred.grad[0].data == ["", ""]


def test_evaluator_after_chat_completion(local_server, backward):
    local_server.script.when(user="color").reply("green")
    model = AsyncOpenAI(base_url=local_server.base_url, api_key=KEY)
    system = afnio.Variable("Name a color.", role="system prompt", requires_grad=True)
    question = afnio.Variable("Which color is the sky?", role="question")
    pred = F.chat_completion(
        model,
        [{"role": "system", "content": [system]}, {"role": "user", "content": [question]}],
        model="gpt-4o",
    )
    _, explanation = F.exact_match_evaluator(pred, "blue")
    explanation.backward()
    assert len(system.grad) == 1 and system.grad[0].data.startswith("improve feedback_1")


# -- LM judge --------------------------------------------------------------------------------------


def judge_messages():
    task = afnio.Variable(
        "Is '{prediction}' a translation into {language} of '{target}'? Give 'score' "
        "(true/false) and 'explanation' in JSON.",
        role="judge instructions",
        requires_grad=True,
    )
    return task, [{"role": "user", "content": [task]}]


def test_judge_scalar(local_server, judge):
    local_server.script.when(schema="evaluation", user="Hola").reply(
        {"score": False, "explanation": "The translated text is in Spanish, not Italian."}
    )
    _, messages = judge_messages()
    pred = afnio.Variable("Hola", role="translation", requires_grad=True)
    score, explanation = F.lm_judge_evaluator(
        judge, messages, pred, "Ciao", inputs={"language": "Italian"}, model="gpt-4o", seed=1
    )
    assert score.data is False or score.data == 0
    assert explanation.data == "The translated text is in Spanish, not Italian."
    assert score.role == "Evaluation result score of translation"
    body = local_server.requests[-1].body
    assert body["response_format"]["type"] == "json_schema"
    assert body["response_format"]["json_schema"]["schema"]["required"] == ["score", "explanation"]
    assert body["seed"] == 1
    assert "Is 'Hola' a translation into Italian of 'Ciao'?" in body["messages"][0]["content"]
    assert score.grad_fn.calls[0].parsed == {
        "score": False,
        "explanation": "The translated text is in Spanish, not Italian.",
    }


def test_judge_batch_with_reduction(local_server, judge):
    local_server.script.when(schema="evaluation", user="^Is 'Ciao'").reply(
        {"score": True, "explanation": "ok"}
    )
    local_server.script.when(schema="evaluation").reply({"score": False, "explanation": "no"})
    _, messages = judge_messages()
    pred = afnio.Variable(["Ciao", "Hola", "Ciao"], role="translations")
    score, explanation = F.lm_judge_evaluator(
        judge, messages, pred, ["Ciao"] * 3, inputs={"language": "Italian"}, model="gpt-4o"
    )
    assert score.data == 2
    assert explanation.data == (
        "The evaluation function, designed using an LM as the judge, compared the <DATA> fields "
        "of the predicted variable and the target variable across all samples in the batch. "
        "These scores were then aggregated using the reduction function 'summation', resulting "
        "in a final aggregated score: 2."
    )
    score, explanation = F.lm_judge_evaluator(
        judge, messages, pred, ["Ciao"] * 3, inputs={"language": "Italian"}, reduction_fn=None,
        reduction_fn_purpose=None, model="gpt-4o",
    )  # fmt: skip
    assert score.data == [1, 0, 1] and explanation.data == ["ok", "no", "ok"]


def test_judge_errors(judge):
    _, messages = judge_messages()
    pred = afnio.Variable(["a", "b"], role="p")
    with pytest.raises(ValueError, match="reserved"):
        F.lm_judge_evaluator(judge, messages, pred, inputs={"prediction": "x"}, model="gpt-4o")
    with pytest.raises(ValueError, match="same length"):
        F.lm_judge_evaluator(judge, messages, pred, ["a", "b", "c"],
                             inputs={"language": "it"}, model="gpt-4o")  # fmt: skip
    with pytest.raises(ValueError, match=r"\{target\}"):
        F.lm_judge_evaluator(judge, messages, pred, inputs={"language": "it"}, model="gpt-4o")
    with pytest.raises(TypeError, match="eval_mode"):
        F.lm_judge_evaluator(judge, messages, pred, ["a", "b"], {"language": "it"},
                             eval_mode="yes", model="gpt-4o")  # fmt: skip


def test_judge_unparseable_reply(local_server, judge):
    local_server.script.when(schema="evaluation").reply("I think it is fine.")
    _, messages = judge_messages()
    pred = afnio.Variable("Ciao", role="translation")
    with pytest.raises(RuntimeError, match="LMJudgeEvaluatorBackward0.*'score'"):
        F.lm_judge_evaluator(judge, messages, pred, "Ciao", {"language": "it"}, model="gpt-4o")
    assert len(local_server.requests) == 4


def test_judge_reply_repaired(local_server, judge):
    local_server.script.when(schema="evaluation").reply("not json", times=1)
    local_server.script.when(schema="evaluation").reply({"score": "0.5", "explanation": "meh"})
    _, messages = judge_messages()
    pred = afnio.Variable("Ciao", role="translation")
    score, _ = F.lm_judge_evaluator(judge, messages, pred, "Ciao", {"language": "it"},
                                    model="gpt-4o")  # fmt: skip
    assert score.data == 0.5


def test_judge_backward_eval_mode(local_server, judge, backward):
    local_server.script.when(schema="evaluation").reply({"score": False, "explanation": "Spanish."})
    task, messages = judge_messages()
    pred = afnio.Variable(["Hola", "Ciao"], role="translations", requires_grad=True)
    _, explanation = F.lm_judge_evaluator(
        judge, messages, pred, ["Ciao", "Ciao"], {"language": "Italian"}, model="gpt-4o"
    )
    local_server.clear_log()
    explanation.backward()
    requests = local_server.requests
    assert len(requests) == 2  # one per sample, concurrently
    prompt = requests[0].body["messages"][1]["content"]
    assert "<EVALUATION>\nScore: False\nExplanation: Spanish.\n</EVALUATION>" in prompt
    assert pred.grad[0].data == ["improve feedback_1", "improve feedback_1"]
    assert task.grad == []  # eval_mode: only the prediction learns


def test_judge_backward_aligns_the_judge(local_server, judge, backward):
    local_server.script.when(schema="evaluation").reply(Reply({"score": True, "explanation": "ok"}))
    task, messages = judge_messages()
    pred = afnio.Variable("Hola", role="translation", requires_grad=True)
    _, explanation = F.lm_judge_evaluator(
        judge, messages, pred, "Ciao", {"language": "Italian"}, eval_mode=False, model="gpt-4o"
    )
    explanation.backward(afnio.Variable("Wrong: 'Hola' is Spanish.", role="human label"))
    assert task.grad[0].data == "improve feedback_1"
    assert pred.grad == []
    prompt = local_server.requests[-1].body["messages"][1]["content"]
    assert "<FEEDBACK>\nWrong: 'Hola' is Spanish.\n</FEEDBACK>" in prompt


def test_judge_success_fn(local_server, judge, backward):
    local_server.script.when(schema="evaluation").reply({"score": 1, "explanation": "fine"})
    _, messages = judge_messages()
    pred = afnio.Variable("Ciao", role="translation", requires_grad=True)
    _, explanation = F.lm_judge_evaluator(
        judge, messages, pred, "Ciao", {"language": "it"}, success_fn=all_correct, model="gpt-4o"
    )
    local_server.clear_log()
    explanation.backward()
    assert local_server.requests == []
    assert pred.grad[0].data == ""


def test_evaluator_classes_are_marked():
    for cls in (DeterministicEvaluator, ExactMatchEvaluator, LMJudgeEvaluator):
        assert cls._is_evaluator


# -- per-sample results ----------------------------------------------------------------------------


def test_evaluation_samples_undo_the_reduction(backward):
    from afnio.lm.evaluators import EvaluationSample, evaluation_samples

    pred = afnio.Variable(["red", "blue", "green"], role="color", requires_grad=True)
    score, explanation = ExactMatchEvaluator.apply(pred, ["red", "green", "green"])
    assert score.data == 2
    samples = evaluation_samples(explanation)
    assert samples == evaluation_samples(score)
    assert [(s.prediction, s.target, s.score) for s in samples] == [
        ("red", "red", 1),
        ("blue", "green", 0),
        ("green", "green", 1),
    ]
    assert isinstance(samples[1], EvaluationSample)
    assert "('blue')" in samples[1].explanation and "('green')" in samples[1].explanation
    assert samples[1].explanation.endswith("resulting in a score: 0.")
    # A scalar evaluation is one sample; a backward pass frees what the samples came from.
    one = evaluation_samples(ExactMatchEvaluator.apply(pred, ["red", "blue", "green"])[1])
    assert [s.score for s in one] == [1, 1, 1]
    explanation.backward()
    assert evaluation_samples(explanation) is None


def test_evaluation_samples_of_the_judge(local_server, judge):
    from afnio.lm.evaluators import evaluation_samples

    local_server.script.when(schema="evaluation", user="^Is 'Ciao'").reply(
        {"score": True, "explanation": "Italian, as asked."}
    )
    local_server.script.when(schema="evaluation").reply(
        {"score": False, "explanation": "That is Spanish."}
    )
    _, messages = judge_messages()
    pred = afnio.Variable(["Ciao", "Hola"], role="translations", requires_grad=True)
    _, explanation = F.lm_judge_evaluator(
        judge, messages, pred, ["Ciao", "Ciao"], inputs={"language": "Italian"}, model="gpt-4o"
    )
    samples = evaluation_samples(explanation)
    assert [(s.prediction, s.target, s.score, s.explanation) for s in samples] == [
        ("Ciao", "Ciao", True, "Italian, as asked."),
        ("Hola", "Ciao", False, "That is Spanish."),
    ]


def test_evaluation_samples_of_other_variables():
    from afnio.lm.evaluators import evaluation_samples

    x = afnio.Variable("a", requires_grad=True)
    assert evaluation_samples(x) is None
    assert evaluation_samples(x + x) is None
    with afnio.no_grad():
        _, explanation = ExactMatchEvaluator.apply(x, "a")
    assert evaluation_samples(explanation) is None
    with pytest.raises(TypeError, match="`output` must be the score or explanation"):
        evaluation_samples("a")
