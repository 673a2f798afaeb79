"""ChatCompletion against the local server: templates, batches, records, and the backward pass
(one structured call per sample, feedback mapping, retries, concurrency, determinism)."""

from __future__ import annotations

import json

import pytest

import afnio
import afnio.cognitive.functional as F
from afnio._model_client import ModelClientSingleton
from afnio.autodiff.graph import register_graph_observer
from afnio.lm import ChatCompletion, fill_template, split_sample_feedback
from afnio.lm._prompts import BACKWARD_SYSTEM_PROMPT
from afnio.models import AsyncOpenAI, OpenAI
from afnio.testing.pytest_plugin import local_server

__all__ = ["local_server"]

KEY = "sk-lm-ops-test-key-9876"


def feedback_reply(request):
    """Answers a backward request: one feedback per asked field, naming the variable's role."""
    schema = request.schema
    if not schema:
        return None
    user = request.messages[1]["content"] if len(request.messages) > 1 else ""
    sample = (
        user.split("<FEEDBACK>\n", 1)[1].split("\n</FEEDBACK>", 1)[0]
        if "<FEEDBACK>" in user
        else ""
    )
    return {
        name: f"{prop['description']} ({sample})" for name, prop in schema["properties"].items()
    }


@pytest.fixture(params=[AsyncOpenAI, OpenAI], ids=["async", "sync"])
def model(request, local_server):
    return request.param(base_url=local_server.base_url, api_key=KEY, retry_base_delay=0.01)


@pytest.fixture
def backward(local_server):
    local_server.script.when(schema="variable_feedback").reply(feedback_reply)
    afnio.set_backward_model_client(
        "openai/gpt-4o-mini",
        client_args={"base_url": local_server.base_url, "api_key": KEY, "retry_seed": 0},
        completion_args={"temperature": 0},
    )
    yield afnio.get_backward_model_client()
    ModelClientSingleton._instance = None


def chat(system, user):
    return [{"role": "system", "content": [system]}, {"role": "user", "content": [user]}]


def backward_requests(server):
    return [r for r in server.requests if r.body and r.body.get("response_format")]


# -- templates -------------------------------------------------------------------------------------


def test_fill_template_rules():
    values = {"lang": "Italian", "n": "3"}
    assert fill_template("Say {n} words in {lang}.", values) == "Say 3 words in Italian."
    assert fill_template('Reply as {"word": "..."}', values) == 'Reply as {"word": "..."}'
    assert fill_template("{{lang}} and { lang } and {0}", values) == "{lang} and { lang } and {0}"
    with pytest.raises(ValueError, match=r"\{topic\}.*`inputs`"):
        fill_template("About {topic}.", values, "the system prompt")


def test_input_values_are_inserted_verbatim(local_server, model):
    user = afnio.Variable("Echo: {text}", role="template")
    out = F.chat_completion(
        model,
        [{"role": "user", "content": [user]}],
        {"text": "{not_a_placeholder}"},
        model="gpt-4o",
    )
    assert out.data == "[scripted] Echo: {not_a_placeholder}"


# -- forward ---------------------------------------------------------------------------------------


def test_scalar_forward(local_server, model):
    local_server.script.when(system="terse", user="capital of France").reply("Paris")
    system = afnio.Variable("Be terse.", role="system prompt", requires_grad=True)
    user = afnio.Variable("What is the capital of {country}?", role="question")
    out = F.chat_completion(model, chat(system, user), {"country": "France"}, model="gpt-4o",
                            temperature=0, seed=42)  # fmt: skip
    assert out.data == "Paris"
    assert out.role == "response to the chat messages"
    assert out.requires_grad and out.grad_fn.name() == "ChatCompletionBackward0"
    body = local_server.requests[-1].body
    assert body["messages"] == [
        {"role": "system", "content": "Be terse."},
        {"role": "user", "content": "What is the capital of France?"},
    ]
    assert body["temperature"] == 0 and body["seed"] == 42 and body["model"] == "gpt-4o"
    assert model.get_usage()["total_tokens"] > 0


def test_contents_of_one_message_are_joined_with_a_blank_line(local_server, model):
    a = afnio.Variable("First.", role="a")
    b = afnio.Variable("Second.", role="b")
    F.chat_completion(model, [{"role": "user", "content": [a, b]}], model="gpt-4o")
    assert local_server.requests[-1].body["messages"][0]["content"] == "First.\n\nSecond."


def test_requires_grad_comes_from_messages_and_inputs(local_server, model):
    frozen = afnio.Variable("Hi {x}", role="template")
    assert not F.chat_completion(model, [{"role": "user", "content": [frozen]}], {"x": "a"},
                                 model="gpt-4o").requires_grad  # fmt: skip
    x = afnio.Variable("a", role="input", requires_grad=True)
    out = F.chat_completion(
        model, [{"role": "user", "content": [frozen]}], {"x": x}, model="gpt-4o"
    )
    assert out.requires_grad
    with afnio.no_grad():
        out = F.chat_completion(
            model, [{"role": "user", "content": [frozen]}], {"x": x}, model="gpt-4o"
        )
    assert not out.requires_grad and out.grad_fn is None


@pytest.mark.parametrize(
    "inputs",
    [
        {"language": ["Italian", "Spanish", "French"]},
        {"language": afnio.Variable(["Italian", "Spanish", "French"], role="languages")},
        {
            "language": [
                afnio.Variable(x, role="language") for x in ("Italian", "Spanish", "French")
            ]
        },
    ],
    ids=["list", "variable", "variables"],
)
def test_batched_forward(local_server, model, inputs):
    template = afnio.Variable("Say hello in {language} to {name}.", role="template")
    out = F.chat_completion(model, [{"role": "user", "content": [template]}],
                            {**inputs, "name": "Ada"}, model="gpt-4o")  # fmt: skip
    assert out.data == [
        f"[scripted] Say hello in {x} to Ada." for x in ("Italian", "Spanish", "French")
    ]
    assert len(local_server.requests) == 3


def test_batched_content_variable(local_server, model):
    questions = afnio.Variable(["q1", "q2"], role="questions")
    out = F.chat_completion(model, [{"role": "user", "content": [questions]}], model="gpt-4o")
    assert out.data == ["[scripted] q1", "[scripted] q2"]


def test_mismatched_batch_lengths(model):
    questions = afnio.Variable(["q1", "q2"], role="questions")
    t = afnio.Variable("{q} {lang}", role="template")
    with pytest.raises(ValueError, match=r"inputs\['lang'\] has 3"):
        F.chat_completion(model, [{"role": "user", "content": [questions, t]}],
                          {"q": "x", "lang": ["a", "b", "c"]}, model="gpt-4o")  # fmt: skip


def test_wrong_types(model):
    good = [{"role": "user", "content": [afnio.Variable("hi")]}]
    with pytest.raises(TypeError, match="forward_model_client"):
        F.chat_completion("gpt-4o", good, model="gpt-4o")
    with pytest.raises(TypeError):
        F.chat_completion(model, [{"role": "user", "content": ["hi"]}], model="gpt-4o")
    with pytest.raises(TypeError, match="inputs"):
        F.chat_completion(model, good, inputs=["x"], model="gpt-4o")
    with pytest.raises(TypeError, match=r"inputs\['x'\]"):
        F.chat_completion(model, good, inputs={"x": {"a": 1}}, model="gpt-4o")
    with pytest.raises(TypeError, match="model"):
        F.chat_completion(model, good)


def test_missing_placeholder_is_named(model):
    t = afnio.Variable("Translate {text} into {language}.", role="template")
    with pytest.raises(ValueError, match=r"\{language\}"):
        F.chat_completion(model, [{"role": "user", "content": [t]}], {"text": "hi"}, model="gpt-4o")


# -- records ---------------------------------------------------------------------------------------


def test_forward_and_backward_calls_are_recorded_on_the_node(local_server, model, backward):
    system = afnio.Variable("Be terse.", role="system prompt", requires_grad=True)
    user = afnio.Variable("Hi", role="greeting")
    events = []
    with register_graph_observer(lambda e: events.append(e) if e.kind == "model_call" else None):
        out = F.chat_completion(model, chat(system, user), model="gpt-4o")
        out.backward(afnio.Variable("Too long.", role="feedback"))
    node_calls = out.grad_fn.calls
    assert [c.phase for c in node_calls] == ["forward", "backward"]
    assert all(c.node == "ChatCompletionBackward0" for c in node_calls)
    assert node_calls[0].model == "gpt-4o" and node_calls[1].model == "gpt-4o-mini"
    assert node_calls[1].parsed == {"feedback_1": "Feedback to the system prompt. (Too long.)"}
    assert [e.record for e in events] == list(node_calls)
    assert all(e.node is out.grad_fn for e in events)
    assert backward.calls[-1] is node_calls[1]
    assert KEY not in json.dumps([c.to_dict() for c in node_calls])


# -- backward --------------------------------------------------------------------------------------


def test_backward_makes_one_structured_call_for_all_variables(local_server, model, backward):
    system = afnio.Variable("Answer in {style}.", role="system prompt", requires_grad=True)
    user = afnio.Variable("Print hello in {lang}.", role="task", requires_grad=True)
    style = afnio.Variable("Python", role="style", requires_grad=True)
    out = F.chat_completion(
        model, chat(system, user), {"style": style, "lang": "Java"}, model="gpt-4o"
    )
    local_server.clear_log()
    out.backward(afnio.Variable("The snippet should be in JavaScript.", role="gradient"))
    requests = backward_requests(local_server)
    assert len(requests) == 1
    fmt = requests[0].body["response_format"]
    assert fmt["type"] == "json_schema"
    assert fmt["json_schema"]["strict"] is True
    assert fmt["json_schema"]["schema"]["required"] == ["feedback_1", "feedback_2", "feedback_3"]
    assert requests[0].body["temperature"] == 0 and requests[0].body["model"] == "gpt-4o-mini"
    for var, role in ((system, "system prompt"), (user, "task"), (style, "style")):
        assert len(var.grad) == 1
        assert var.grad[0].role == f"feedback to {role}"
        assert var.grad[0].data == f"Feedback to the {role}. (The snippet should be in JavaScript.)"
    assert backward.get_usage()["completion_tokens"] > 0


def test_backward_prompt_structure(local_server, model, backward):
    long_value = "Rule. " * 800  # never truncated
    system = afnio.Variable(long_value + "{style}", role="system prompt", requires_grad=True)
    user = afnio.Variable("Hi", role="greeting")
    local_server.script.when(user="^Hi$").reply("Hello there!")
    out = F.chat_completion(model, chat(system, user), {"style": "Be kind."}, model="gpt-4o")
    out.backward(afnio.Variable("Say it in French.", role="feedback"))
    (request,) = backward_requests(local_server)
    system_msg, user_msg = request.body["messages"]
    assert system_msg == {"role": "system", "content": BACKWARD_SYSTEM_PROMPT}
    prompt = user_msg["content"]
    conversation = (
        f'<CONVERSATION>\n<MESSAGE role="system">\n{long_value}Be kind.\n</MESSAGE>\n'
        '<MESSAGE role="user">\nHi\n</MESSAGE>\n</CONVERSATION>'
    )
    assert conversation in prompt
    assert "<RESPONSE>\nHello there!\n</RESPONSE>" in prompt
    assert "<FEEDBACK>\nSay it in French.\n</FEEDBACK>" in prompt
    assert (
        f'<VARIABLE name="feedback_1" role="system prompt">\n{long_value}{{style}}\n</VARIABLE>\n'
        "It was used in the system message (message 1)."
    ) in prompt
    assert (
        prompt.index("<CONVERSATION>")
        < prompt.index("<RESPONSE>")
        < prompt.index("<FEEDBACK>")
        < prompt.index("<VARIABLE")
    )
    assert prompt.rstrip().endswith(
        'Answer with a JSON object with exactly these keys: "feedback_1". Each value is your '
        "feedback to that variable, or an empty string if it needs no change."
    )
    for phrase in ("concrete and critical", "Do not write a new version", "empty string"):
        assert phrase in BACKWARD_SYSTEM_PROMPT


SNAPSHOT = """\
Here is one call to a language model.

The messages it received:
<CONVERSATION>
<MESSAGE role="system">
Answer in one word.
</MESSAGE>
<MESSAGE role="user">
Capital of Italy?
</MESSAGE>
</CONVERSATION>

Its response (the response to the chat messages):
<RESPONSE>
Milan
</RESPONSE>

The response received this feedback; your feedback to the variables should address it:
<FEEDBACK>
Wrong city.
</FEEDBACK>

Give feedback to each of these variables:

<VARIABLE name="feedback_1" role="system prompt">
Answer in one word.
</VARIABLE>
It was used in the system message (message 1).

<VARIABLE name="feedback_2" role="country">
Italy
</VARIABLE>
It was used as the value of the placeholder {country}.

Answer with a JSON object with exactly these keys: "feedback_1", "feedback_2". Each value is \
your feedback to that variable, or an empty string if it needs no change."""


def test_backward_prompt_snapshot(local_server, model, backward):
    local_server.script.when(user="Capital").reply("Milan")
    system = afnio.Variable("Answer in one word.", role="system prompt", requires_grad=True)
    country = afnio.Variable("Italy", role="country", requires_grad=True)
    question = afnio.Variable("Capital of {country}?", role="question")
    out = F.chat_completion(model, chat(system, question), {"country": country}, model="gpt-4o")
    out.backward(afnio.Variable("Wrong city.", role="feedback"))
    (request,) = backward_requests(local_server)
    assert request.body["messages"][1]["content"] == SNAPSHOT


def test_batched_feedback_mapping(local_server, model, backward):
    system = afnio.Variable("Translate.", role="system prompt", requires_grad=True)
    texts = afnio.Variable(["one", "two", "three"], role="texts", requires_grad=True)
    shots = [afnio.Variable(f"shot {i}", role=f"example {i}", requires_grad=True) for i in range(3)]
    template = afnio.Variable("{text} / {shot}", role="template")
    out = F.chat_completion(
        model, chat(system, template), {"text": texts, "shot": shots}, model="gpt-4o"
    )
    assert out.data == [f"[scripted] {t} / shot {i}" for i, t in enumerate(["one", "two", "three"])]
    local_server.clear_log()
    out.backward(afnio.Variable(["bad A", "", "bad C"], role="feedback"))
    assert len(backward_requests(local_server)) == 2  # sample 2 had no feedback: no call
    assert len(system.grad) == 1
    assert system.grad[0].data == (
        "Feedback from sample 1 of 3:\nFeedback to the system prompt. (bad A)\n\n"
        "Feedback from sample 3 of 3:\nFeedback to the system prompt. (bad C)"
    )
    assert split_sample_feedback(system.grad[0].data) == [
        (0, "Feedback to the system prompt. (bad A)"),
        (2, "Feedback to the system prompt. (bad C)"),
    ]
    assert texts.grad[0].data == [
        "Feedback to the texts. (bad A)",
        "",
        "Feedback to the texts. (bad C)",
    ]
    backward_calls = [c for c in out.grad_fn.calls if c.phase == "backward"]
    assert sorted(c.sample for c in backward_calls) == [0, 2]
    assert sorted(c.sample for c in out.grad_fn.calls if c.phase == "forward") == [0, 1, 2]
    assert [s.grad[0].data for s in shots] == [
        "Feedback to the example 0. (bad A)", "", "Feedback to the example 2. (bad C)"
    ]  # fmt: skip


def test_split_sample_feedback_keeps_texts_whole():
    text = (
        "Intro.\n\nFeedback from sample 1 of 12:\nLine one.\n\nLine two.\n\n"
        "Feedback from sample 12 of 12:\nSay: Feedback from sample 3 of 12: inline"
    )
    assert split_sample_feedback(text) == [
        (None, "Intro."),
        (0, "Line one.\n\nLine two."),
        (11, "Say: Feedback from sample 3 of 12: inline"),
    ]
    assert split_sample_feedback("") == []
    assert split_sample_feedback("No header.") == [(None, "No header.")]


def test_empty_feedback_makes_no_call(local_server, model, backward):
    system = afnio.Variable("Be terse.", role="system prompt", requires_grad=True)
    out = F.chat_completion(model, chat(system, afnio.Variable("Hi")), model="gpt-4o")
    local_server.clear_log()
    out.backward(afnio.Variable("", role="feedback"))
    assert local_server.requests == []
    assert system.grad[0].data == ""


def test_variable_used_twice_gets_one_gradient(local_server, model, backward):
    shared = afnio.Variable("Be terse.", role="instruction", requires_grad=True)
    messages = [{"role": "system", "content": [shared]}, {"role": "user", "content": [shared]}]
    out = F.chat_completion(model, messages, model="gpt-4o")
    out.backward(afnio.Variable("Shorter.", role="feedback"))
    assert len(shared.grad) == 1
    (request,) = backward_requests(local_server)
    assert request.body["response_format"]["json_schema"]["schema"]["required"] == ["feedback_1"]
    assert "message 1); in the user message (message 2)" in request.body["messages"][1]["content"]


def test_malformed_json_is_retried(local_server, model, backward):
    system = afnio.Variable("Be terse.", role="system prompt", requires_grad=True)
    out = F.chat_completion(model, chat(system, afnio.Variable("Hi")), model="gpt-4o")
    local_server.clear_log()
    local_server.inject("malformed_json", times=2)
    out.backward(afnio.Variable("Shorter.", role="feedback"))
    requests = backward_requests(local_server)
    assert len(requests) == 3
    # Retries show the model its unusable answer and say what was wrong.
    assert "could not be used" in requests[-1].body["messages"][-1]["content"]
    assert system.grad[0].data == "Feedback to the system prompt. (Shorter.)"
    records = out.grad_fn.calls
    assert [r.phase for r in records] == ["forward", "backward", "backward", "backward"]
    assert records[-1].parsed is not None and records[1].parsed is None


def test_malformed_json_after_all_retries_raises(local_server, model, backward):
    system = afnio.Variable("Be terse.", role="system prompt", requires_grad=True)
    out = F.chat_completion(model, chat(system, afnio.Variable("Hi")), model="gpt-4o")
    local_server.inject("malformed_json", times=10)
    with pytest.raises(RuntimeError) as info:
        out.backward(afnio.Variable("Shorter.", role="feedback"))
    message = str(info.value)
    assert "ChatCompletionBackward0" in message and "'gpt-4o-mini'" in message
    assert "feedback_1" in message and "4 attempts" in message
    assert system.grad == []  # a failed pass leaves no gradients


def test_wrong_number_of_fields_raises_value_error(local_server, model, backward):
    local_server.script.clear()
    local_server.script.when(schema="variable_feedback").reply({"feedback_1": "only one"})
    a = afnio.Variable("A", role="a", requires_grad=True)
    b = afnio.Variable("B", role="b", requires_grad=True)
    out = F.chat_completion(model, chat(a, b), model="gpt-4o")
    with pytest.raises(ValueError, match="expected 2 feedback field"):
        out.backward(afnio.Variable("Shorter.", role="feedback"))


def test_tolerant_parsing(local_server, model, backward):
    local_server.script.clear()
    local_server.script.when(schema="variable_feedback").reply(
        '```json\n{"feedback_1": "Tighter.", "note": 1}\n```'
    )
    a = afnio.Variable("A", role="a", requires_grad=True)
    out = F.chat_completion(model, [{"role": "user", "content": [a]}], model="gpt-4o")
    out.backward(afnio.Variable("Shorter.", role="feedback"))
    assert a.grad[0].data == "Tighter."


def test_batch_of_eight_runs_concurrently(local_server, backward):
    local_server.latency = 0.2
    model = AsyncOpenAI(base_url=local_server.base_url, api_key=KEY)
    system = afnio.Variable("Be terse.", role="system prompt", requires_grad=True)
    questions = afnio.Variable([f"q{i}" for i in range(8)], role="questions")
    out = F.chat_completion(model, chat(system, questions), model="gpt-4o")
    assert local_server.max_in_flight >= 8
    local_server.clear_log()
    out.backward(afnio.Variable([f"bad {i}" for i in range(8)], role="feedback"))
    assert len(local_server.requests) == 8
    assert local_server.max_in_flight >= 8


def run_batch(latency):
    from afnio.testing import LocalServer

    with LocalServer(latency=latency) as server:
        server.script.when(schema="variable_feedback").reply(feedback_reply)
        afnio.set_backward_model_client(
            "openai/gpt-4o-mini", client_args={"base_url": server.base_url, "api_key": KEY}
        )
        model = AsyncOpenAI(base_url=server.base_url, api_key=KEY)
        system = afnio.Variable("Be terse.", role="system prompt", requires_grad=True)
        shots = [afnio.Variable(f"s{i}", role=f"shot {i}", requires_grad=True) for i in range(6)]
        template = afnio.Variable("{shot}", role="template")
        out = F.chat_completion(model, chat(system, template), {"shot": shots}, model="gpt-4o")
        out.backward(afnio.Variable([f"fix {i}" for i in range(6)], role="feedback"))
        calls = [(c.phase, c.messages[-1]["content"]) for c in out.grad_fn.calls]
        return out.data, system.grad[0].data, [s.grad[0].data for s in shots], calls


def test_gradients_do_not_depend_on_timing():
    try:
        first = run_batch((0.0, 0.15))
        second = run_batch((0.05, 0.2))
    finally:
        ModelClientSingleton._instance = None
    assert first == second
    assert first[1].startswith("Feedback from sample 1 of 6:")


def test_second_backward_needs_retain_graph(local_server, model, backward):
    system = afnio.Variable("Be terse.", role="system prompt", requires_grad=True)
    out = F.chat_completion(model, chat(system, afnio.Variable("Hi")), model="gpt-4o")
    out.backward(afnio.Variable("Shorter.", role="feedback"), retain_graph=True)
    out.backward(afnio.Variable("Shorter.", role="feedback"))
    assert len(system.grad) == 2
    with pytest.raises(RuntimeError, match="second time"):
        out.backward(afnio.Variable("Shorter.", role="feedback"))


def test_backward_without_backward_client(local_server, model):
    ModelClientSingleton._instance = None
    system = afnio.Variable("Be terse.", role="system prompt", requires_grad=True)
    out = ChatCompletion.apply(model, chat(system, afnio.Variable("Hi")), model="gpt-4o")
    with pytest.raises(RuntimeError, match="set_backward_model_client"):
        out.backward(afnio.Variable("Shorter.", role="feedback"))


def test_a_nodes_calls_are_listed_in_the_order_they_started(local_server, model):
    # sample 0 answers last, sample 2 first: the node still lists them 0, 1, 2
    local_server.script.when(user="one").reply("1", latency=0.6)
    local_server.script.when(user="two").reply("2", latency=0.3)
    local_server.script.when(user="three").reply("3", latency=0.0)
    texts = afnio.Variable(["one", "two", "three"], role="texts")
    system = afnio.Variable("Count.", role="system prompt", requires_grad=True)
    out = F.chat_completion(
        model, chat(system, afnio.Variable("{t}", role="q")), {"t": texts}, model="gpt-4o"
    )
    assert out.data == ["1", "2", "3"]
    calls = out.grad_fn.calls
    assert [c.sample for c in calls] == [0, 1, 2]
    assert [c.id for c in calls] == sorted(c.id for c in calls)
    finished = sorted(calls, key=lambda c: c.started_at + c.latency)
    assert [c.sample for c in finished] == [2, 1, 0]  # they did finish in the other order
