"""TGD against the local OpenAI-compatible server: prompt contents, structured output, retries,
momentum, skipping parameters without feedback, concurrency and records."""

from __future__ import annotations

import io
import json
import logging

import pytest

import afnio
from afnio import Variable
from afnio.cognitive import Parameter
from afnio.optim import TGD, _prompts, tgd

SCHEMA = "improved_variable"


def answer(value: str) -> dict:
    return {"improved_variable": value}


def grad(text: str, role: str = "feedback to prompt") -> Variable:
    return Variable(text, role=role)


def tgd_requests(server) -> list:
    return [r for r in server.requests if r.path.endswith("/chat/completions")]


def user_text(record) -> str:
    return "\n".join(m["content"] for m in record.messages if m["role"] == "user")


# -- construction ----------------------------------------------------------------------------
def test_defaults_and_param_groups(optimizer_model):
    p = Parameter("Initial value", role="prompt")
    optimizer = TGD([p], model_client=optimizer_model, momentum=3, model="gpt-4o")
    defaults = optimizer.defaults
    assert list(defaults) == [
        "model_client",
        "messages",
        "inputs",
        "constraints",
        "momentum",
        "completion_args",
    ]
    assert defaults["model_client"] is optimizer_model
    assert [m["role"] for m in defaults["messages"]] == ["system", "user"]
    assert defaults["messages"][0]["content"][0].role == (
        "Textual Gradient Descent optimizer system prompt"
    )
    assert defaults["inputs"] == {} and defaults["constraints"] == []
    assert defaults["momentum"] == 3 and defaults["completion_args"] == {"model": "gpt-4o"}
    assert optimizer.param_groups == [{**defaults, "params": [p]}]
    assert optimizer.state == {} and isinstance(optimizer.state, dict)
    other = TGD([Parameter("x")], model_client=optimizer_model)
    # the default prompt Variables are fresh copies per optimizer
    assert other.defaults["messages"][0]["content"][0] is not defaults["messages"][0]["content"][0]


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"momentum": -1}, ValueError, "`momentum` must be an int >= 0"),
        ({"momentum": True}, ValueError, "`momentum` must be an int >= 0"),
        ({"inputs": []}, TypeError, "`inputs` must be a dict"),
        ({"constraints": "short"}, TypeError, "`constraints` must be a list"),
        ({"response_format": {"type": "json_object"}}, ValueError, "TGD sets `response_format`"),
        ({"inputs": {"role": "x"}}, ValueError, "`inputs` key 'role' is reserved"),
        ({"inputs": {"tone": "x"}}, ValueError, r"matches no \{tone\} placeholder"),
        ({"messages": []}, ValueError, "at least one message"),
        ({"messages": [{"role": "user"}]}, ValueError, "must contain 'role' and 'content'"),
    ],
)
def test_invalid_options(kwargs, error, match):
    with pytest.raises(error, match=match):
        TGD([Parameter("x")], model_client=None, **kwargs)


def test_model_client_type_is_checked():
    with pytest.raises(TypeError, match="`model_client` must be a chat model client"):
        TGD([Parameter("x")], model_client="gpt-4o")


def test_custom_messages_must_carry_what_the_options_provide():
    messages = [{"role": "user", "content": [Variable("Improve {value} given {feedback}.")]}]
    TGD([Parameter("x")], None, messages=messages)
    with pytest.raises(ValueError, match=r"\{past_iterations\}"):
        TGD([Parameter("x")], None, messages=messages, momentum=2)
    with pytest.raises(ValueError, match=r"\{constraints\}"):
        TGD([Parameter("x")], None, messages=messages, constraints=["Be short."])
    bare = [{"role": "user", "content": [Variable("Improve it.")]}]
    with pytest.raises(ValueError, match=r"lack the placeholder\(s\) \{feedback\}, \{value\}"):
        TGD([Parameter("x")], None, messages=bare)


# -- step --------------------------------------------------------------------------------------
def test_step_updates_in_place_and_returns_closure_loss(local_server, optimizer_model):
    local_server.script.when(schema=SCHEMA, user="Use only capital letters").reply(
        answer("INITIAL VALUE")
    )
    param = Parameter("Initial value", role="greeting")
    gradient = grad("Use only capital letters")
    optimizer = TGD([param], model_client=optimizer_model, momentum=3, model="gpt-4o")
    loss = (Variable(0, role="score"), Variable("explanation", role="explanation"))

    def closure():
        param.append_grad(gradient)
        return loss

    identity = id(param)
    assert optimizer.step(closure) is loss
    assert id(param) == identity and param.data == "INITIAL VALUE"
    assert param.grad == [gradient]  # step does not touch the gradients
    [(snapshot, used)] = optimizer.state[param]["momentum_buffer"]
    assert list(optimizer.state) == [param]
    assert snapshot is not param and snapshot.data == "Initial value"
    assert snapshot.role == "greeting" and snapshot.requires_grad is False
    assert used == [gradient] and used[0] is gradient


def test_step_without_closure_returns_none_pair(local_server, optimizer_model):
    local_server.script.when(schema=SCHEMA).reply(answer("new"))
    p = Parameter("old", role="prompt")
    p.append_grad(grad("change it"))
    assert TGD([p], optimizer_model, model="gpt-4o-mini").step() == (None, None)
    assert p.data == "new"


def test_request_carries_full_value_every_gradient_and_schema(local_server, optimizer_model):
    local_server.script.when(schema=SCHEMA).reply(answer("better"))
    value = "START " + " ".join(f"word{i}" for i in range(3000)) + " END"
    param = Parameter(value, role="system prompt of a support bot")
    texts = [f"Feedback number {i}: " + "x" * 500 + f" tail{i}" for i in range(3)]
    for text in texts:
        param.append_grad(grad(text))
    param.append_grad(grad(""))  # empty feedback is not shown
    optimizer = TGD(
        [param],
        optimizer_model,
        constraints=["Keep it under 100 words.", Variable("Stay polite.")],
        inputs={"examples": ["You are a helpful bot."]},
        model="gpt-4o-mini",
        temperature=0,
        seed=7,
    )
    optimizer.step()
    [request] = tgd_requests(local_server)
    assert request.model == "gpt-4o-mini"
    assert request.body["temperature"] == 0 and request.body["seed"] == 7
    assert request.response_format == _prompts.RESPONSE_FORMAT
    schema = request.response_format["json_schema"]
    assert schema["name"] == "improved_variable" and schema["strict"] is True
    assert schema["schema"]["required"] == ["improved_variable"]
    system = request.messages[0]
    assert system["role"] == "system" and "improved_variable" in system["content"]
    user = user_text(request)
    assert f"<VARIABLE>\n{value}\n</VARIABLE>" in user  # never truncated
    assert "<ROLE>system prompt of a support bot</ROLE>" in user
    for i, text in enumerate(texts, start=1):
        assert f'<FEEDBACK index="{i}" role="feedback to prompt">\n{text}\n</FEEDBACK>' in user
    assert 'index="4"' not in user
    assert "1. Keep it under 100 words.\n2. Stay polite." in user
    assert "<EXAMPLE>\nYou are a helpful bot.\n</EXAMPLE>" in user
    assert "<PAST_ITERATIONS>" not in user  # momentum 0
    assert param.data == "better"


def test_no_request_for_parameters_without_feedback(local_server, optimizer_model, caplog):
    local_server.script.when(schema=SCHEMA).reply(answer("changed"))
    silent = Parameter("keep me", role="untouched prompt")
    empty = Parameter("keep me too", role="prompt with empty feedback")
    empty.append_grad(grad(""))
    empty.append_grad(grad("   "))
    optimizer = TGD([silent, empty], optimizer_model, model="gpt-4o-mini")
    with caplog.at_level(logging.INFO, logger="afnio.optim"):
        optimizer.step()
    assert tgd_requests(local_server) == []
    assert silent.data == "keep me" and empty.data == "keep me too"
    assert optimizer.state == {}
    logged = [r for r in caplog.records if r.name == "afnio.optim" and r.levelno == logging.INFO]
    assert len(logged) == 2 and "untouched prompt" in logged[0].getMessage()
    assert optimizer.last_step.skipped == [silent, empty] and optimizer.last_step.updates == []


def test_five_parameters_updated_concurrently(local_server, optimizer_model):
    local_server.script.when(schema=SCHEMA).reply(
        lambda request: answer(
            request.user.split("<VARIABLE>\n")[1].split("\n</VARIABLE>")[0].upper()
        ),
        latency=0.2,
    )
    params = [Variable(f"value {i}", role=f"text {i}", requires_grad=True) for i in range(5)]
    for p in params:
        p.append_grad(grad("Use only capital letters"))
    TGD(params, optimizer_model, model="gpt-4o-mini").step()
    assert [p.data for p in params] == [f"VALUE {i}" for i in range(5)]
    assert local_server.max_in_flight >= 2


def test_momentum_window_in_prompt_and_buffer(local_server, optimizer_model):
    counter = iter(range(1, 100))
    local_server.script.when(schema=SCHEMA).reply(lambda r: answer(f"v{next(counter)}"))
    p = Parameter("v0", role="prompt")
    optimizer = TGD([p], optimizer_model, momentum=2, model="gpt-4o-mini")
    for step in range(3):
        p.grad.clear()
        p.append_grad(grad(f"feedback at step {step}"))
        optimizer.step()
    requests = tgd_requests(local_server)
    assert "<PAST_ITERATIONS>" not in user_text(requests[0])
    second = user_text(requests[1])
    assert "<VALUE>\nv0\n</VALUE>\n<FEEDBACK>\nfeedback at step 0\n</FEEDBACK>" in second
    third = user_text(requests[2])
    assert '<ITERATION index="1">\n<VALUE>\nv0\n' in third
    assert '<ITERATION index="2">\n<VALUE>\nv1\n' in third
    assert "feedback at step 1" in third
    buffer = optimizer.state[p]["momentum_buffer"]
    assert [(s.data, [g.data for g in gs]) for s, gs in buffer] == [
        ("v1", ["feedback at step 1"]),
        ("v2", ["feedback at step 2"]),
    ]
    assert p.data == "v3"


def test_momentum_zero_keeps_nothing(local_server, optimizer_model):
    local_server.script.when(schema=SCHEMA).reply(answer("new"))
    p = Parameter("old")
    p.append_grad(grad("change"))
    optimizer = TGD([p], optimizer_model, model="gpt-4o-mini")
    optimizer.step()
    assert optimizer.state[p] == {"momentum_buffer": []}


# -- parsing, retries, leaks -------------------------------------------------------------------
def test_unusable_replies_are_retried_with_a_correction(local_server, optimizer_model):
    script = local_server.script
    script.when(schema=SCHEMA).reply("Sure! Here it is: better prompt", times=1)
    script.when(schema=SCHEMA).reply(answer("<FEEDBACK>leaked</FEEDBACK> better"), times=1)
    script.when(schema=SCHEMA).reply(answer("better prompt"))
    p = Parameter("prompt", role="prompt")
    p.append_grad(grad("improve"))
    optimizer = TGD([p], optimizer_model, model="gpt-4o-mini")
    optimizer.step()
    assert p.data == "better prompt"
    first, second, third = tgd_requests(local_server)
    assert second.messages[-2] == {
        "role": "assistant",
        "content": "Sure! Here it is: better prompt",
    }
    assert "not a JSON object" in second.messages[-1]["content"]
    assert "markup '<FEEDBACK'" in third.messages[-1]["content"]
    assert len(optimizer.calls) == 3
    assert optimizer.calls[-1].parsed == {"improved_variable": "better prompt"}


@pytest.mark.parametrize(
    "reply",
    ['```json\n{"improved_variable": "fenced"}\n```', 'Result: {"improved_variable": "fenced"}'],
)
def test_json_is_found_in_fences_and_prose(local_server, optimizer_model, reply):
    local_server.script.when(schema=SCHEMA).reply(reply)
    p = Parameter("x")
    p.append_grad(grad("y"))
    TGD([p], optimizer_model, model="gpt-4o-mini").step()
    assert p.data == "fenced"


def test_markup_already_in_the_value_is_allowed(local_server, optimizer_model):
    local_server.script.when(schema=SCHEMA).reply(answer("Wrap code in <VARIABLE> tags, always."))
    p = Parameter("Wrap code in <VARIABLE> tags.", role="prompt")
    p.append_grad(grad("add 'always'"))
    TGD([p], optimizer_model, model="gpt-4o-mini").step()
    assert p.data == "Wrap code in <VARIABLE> tags, always."


def test_failure_after_retries_changes_no_parameter(local_server, optimizer_model):
    script = local_server.script
    script.when(schema=SCHEMA, user="<VARIABLE>\ngood").reply(answer("good, improved"))
    script.when(schema=SCHEMA).reply({"wrong_field": "x"})
    good = Parameter("good", role="good prompt")
    bad = Parameter("bad", role="bad prompt")
    for p in (good, bad):
        p.append_grad(grad("improve"))
    optimizer = TGD([good, bad], optimizer_model, model="gpt-4o-mini")
    with pytest.raises(RuntimeError) as info:
        optimizer.step()
    message = str(info.value)
    assert "parameter with role 'bad prompt'" in message
    assert "4 attempts" in message and 'no string field "improved_variable"' in message
    assert good.data == "good" and bad.data == "bad"
    assert optimizer.state == {}
    assert len(optimizer.calls) == 5  # one for `good`, four for `bad`: all recorded


def test_non_text_parameter_and_missing_client():
    number = Variable(3, requires_grad=True)
    number.append_grad(grad("bigger"))
    with pytest.raises(TypeError, match="TGD can only update text"):
        TGD([number], model_client=None).step()
    text = Parameter("x")
    text.append_grad(grad("y"))
    with pytest.raises(ValueError, match="needs a `model_client`"):
        TGD([text], model_client=None).step()


# -- records -----------------------------------------------------------------------------------
def test_calls_and_history_are_recorded(local_server, optimizer_model):
    local_server.script.when(schema=SCHEMA).reply(answer("after"))
    p = Parameter("before", role="prompt")
    g = grad("fix it")
    p.append_grad(g)
    optimizer = TGD([p], optimizer_model, model="gpt-4o")
    assert optimizer.last_step is None
    optimizer.step()
    [call] = optimizer.calls
    assert call.phase == "optimizer" and call.node == "TGD" and call.model == "gpt-4o"
    assert call.response == json.dumps(answer("after"))
    step = optimizer.last_step
    assert step.index == 0 and step.calls == [call]
    [update] = step.updates
    assert update.param is p and update.before == "before" and update.after == "after"
    assert update.feedback == [g]


# -- custom prompts ----------------------------------------------------------------------------
def test_custom_messages_with_inputs(local_server, optimizer_model):
    local_server.script.when(schema=SCHEMA).reply(answer("new"))
    messages = [
        {"role": "system", "content": [Variable("You rewrite {task} prompts.")]},
        {
            "role": "user",
            "content": [Variable("Value: {value}"), Variable('Feedback: {feedback} {"k": 1}')],
        },
    ]
    p = Parameter("old", role="prompt")
    p.append_grad(grad("shorter"))
    TGD(
        [p],
        optimizer_model,
        messages=messages,
        inputs={"task": Variable("sentiment")},
        model="gpt-4o-mini",
    ).step()
    [request] = tgd_requests(local_server)
    assert request.messages[0] == {"role": "system", "content": "You rewrite sentiment prompts."}
    assert request.messages[1]["content"].startswith("Value: old\nFeedback: <FEEDBACK")
    assert request.messages[1]["content"].endswith('{"k": 1}')


# -- functional --------------------------------------------------------------------------------
def test_functional_tgd(local_server, optimizer_model):
    local_server.script.when(
        schema=SCHEMA,
        predicate=lambda r: (
            "Translate the parameter to Italian" in r.user and "Only use capital letters" in r.user
        ),
    ).reply(answer("VALORE INIZIALE"))
    param = Parameter("Initial value", role="greeting")
    g1, g2 = grad("Translate the parameter to Italian"), grad("Only use capital letters")
    buffers: list[list] = [[]]
    inner = buffers[0]
    updates = tgd(
        [param],
        [[g1, g2]],
        buffers,
        optimizer_model,
        _prompts.default_messages(),
        {},
        [],
        2,
        model="gpt-4o",
    )
    assert param.data == "VALORE INIZIALE"
    assert buffers[0] is inner
    [(snapshot, used)] = inner
    assert snapshot.data == "Initial value" and used == [g1, g2]
    assert updates[0].after == "VALORE INIZIALE"
    with pytest.raises(ValueError, match="must have the same length"):
        tgd([param], [], [], optimizer_model, _prompts.default_messages(), {}, [], 0)


def test_functional_tgd_skips_empty_feedback(local_server, optimizer_model):
    p = Parameter("x")
    assert tgd([p], [[]], [[]], optimizer_model, _prompts.default_messages(), {}, [], 0) == []
    assert tgd_requests(local_server) == []


# -- state dicts -------------------------------------------------------------------------------
def test_state_dict_round_trip_with_momentum(local_server, optimizer_model):
    local_server.script.when(schema=SCHEMA).reply(answer("v1"))
    p = Parameter("v0", role="prompt")
    p.append_grad(grad("feedback"))
    optimizer = TGD([p], optimizer_model, momentum=2, model="gpt-4o-mini")
    optimizer.step()
    sd = optimizer.state_dict()
    assert sd["param_groups"][0]["params"] == [0]
    assert sd["param_groups"][0]["model_client"]["class_type"] == "AsyncOpenAI"
    [(snapshot, _)] = sd["state"][0]["momentum_buffer"]
    assert snapshot.data == "v0"
    buffer = io.BytesIO()
    afnio.save(sd, buffer)
    buffer.seek(0)
    loaded = afnio.load(buffer)

    fresh_param = Parameter("v1", role="prompt")
    fresh = TGD([fresh_param], None, momentum=2, model="gpt-4o-mini")
    with pytest.raises(ValueError, match="Missing model client for 'model_client'"):
        fresh.load_state_dict(loaded)
    client = type(optimizer_model)(base_url=local_server.base_url, api_key=local_server.api_key)
    fresh.load_state_dict(loaded, model_clients={"model_client": client})
    assert fresh.param_groups[0]["model_client"] is client
    assert fresh.param_groups[0]["params"] == [fresh_param]
    [(restored, grads)] = fresh.state[fresh_param]["momentum_buffer"]
    assert restored.data == "v0" and grads[0].data == "feedback"
    assert client.get_usage()["total_tokens"] == optimizer_model.get_usage()["total_tokens"]
    assert fresh.param_groups[0]["messages"][1]["content"][0].data == _prompts.TGD_USER_PROMPT


def test_closure_runs_with_grad_enabled(local_server, optimizer_model):
    local_server.script.when(schema=SCHEMA).reply(answer("y"))
    p = Parameter("x")
    seen = []

    def closure():
        seen.append(afnio.is_grad_enabled())
        return "loss"

    with afnio.no_grad():
        assert TGD([p], optimizer_model, model="gpt-4o-mini").step(closure) == "loss"
    assert seen == [True]
