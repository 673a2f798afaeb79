"""LocalServer over real HTTP, spoken to by the real openai SDK."""

from __future__ import annotations

import asyncio
import http.client
import json
import threading
from collections.abc import Callable
from typing import Any

import openai
import pytest

import afnio.testing
from afnio.testing import ChatRequest, Faults, LocalServer, Reply, ScriptedModel

USER_HELLO: list[Any] = [{"role": "user", "content": "hello"}]


def raw_request(
    server: LocalServer, method: str, path: str, body: bytes | None = None
) -> tuple[int, dict[str, str], Any]:
    """Send one HTTP request without the SDK; return status, headers and the parsed JSON body."""
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        headers = {"Content-Type": "application/json"} if body is not None else {}
        connection.request(method, path, body=body, headers=headers)
        response = connection.getresponse()
        payload = json.loads(response.read())
        return response.status, {k.lower(): v for k, v in response.getheaders()}, payload
    finally:
        connection.close()


def assert_openai_error(payload: Any) -> dict[str, Any]:
    assert set(payload) == {"error"}
    error = payload["error"]
    assert set(error) == {"message", "type", "param", "code"}
    assert isinstance(error["message"], str) and error["message"]
    return dict(error)


# -- endpoints -------------------------------------------------------------------------------------


def test_basic_completion_has_openai_shape(
    local_server: LocalServer, client: openai.OpenAI
) -> None:
    completion = client.chat.completions.create(model="gpt-4o-mini", messages=USER_HELLO)

    assert completion.choices[0].message.content == "[scripted] hello"
    assert completion.choices[0].message.role == "assistant"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.model == "gpt-4o-mini"
    assert completion.id.startswith("chatcmpl-")
    assert completion.created > 0
    usage = completion.usage
    assert usage is not None
    assert usage.prompt_tokens == 2  # "hello": ceil(5 / 4)
    assert usage.completion_tokens == 4  # "[scripted] hello": ceil(16 / 4)
    assert usage.total_tokens == 6
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 0
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 0


def test_same_request_gives_the_same_answer(client: openai.OpenAI) -> None:
    first = client.chat.completions.create(model="m", messages=USER_HELLO, temperature=1.0)
    second = client.chat.completions.create(model="m", messages=USER_HELLO, temperature=1.0)
    assert first.choices[0].message.content == second.choices[0].message.content
    assert first.id != second.id  # a retry is a distinct completion


def test_models_list_and_retrieve(local_server: LocalServer, client: openai.OpenAI) -> None:
    models = client.models.list()
    assert [model.id for model in models.data] == list(local_server.models)
    assert all(model.object == "model" for model in models.data)
    assert client.models.retrieve("gpt-4o").id == "gpt-4o"
    with pytest.raises(openai.NotFoundError):
        client.models.retrieve("no-such-model")


def test_models_can_be_configured() -> None:
    with LocalServer(models=["tiny"]) as server:
        status, _, payload = raw_request(server, "GET", "/v1/models")
    assert status == 200
    assert payload == {
        "object": "list",
        "data": [{"id": "tiny", "object": "model", "created": 0, "owned_by": "afnio-testing"}],
    }


def test_any_api_key_is_accepted(local_server: LocalServer) -> None:
    with openai.OpenAI(base_url=local_server.base_url, api_key="sk-anything") as other:
        assert other.chat.completions.create(model="m", messages=USER_HELLO).choices


def test_unknown_paths_are_404_in_openai_shape(
    local_server: LocalServer, client: openai.OpenAI
) -> None:
    with pytest.raises(openai.NotFoundError):
        client.completions.create(model="gpt-3.5-turbo-instruct", prompt="hi")
    status, _, payload = raw_request(local_server, "GET", "/nowhere")
    assert status == 404
    assert assert_openai_error(payload)["message"] == "Invalid URL (GET /nowhere)"
    status, _, payload = raw_request(local_server, "GET", "/v1/chat/completions")
    assert status == 404
    assert_openai_error(payload)
    status, _, payload = raw_request(local_server, "DELETE", "/v1/models/gpt-4o")
    assert status == 404


# -- invalid requests ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "param"),
    [
        (b"{not json", None),
        (b"", None),
        (b"[1, 2]", None),
        (json.dumps({"messages": USER_HELLO}).encode(), "model"),
        (json.dumps({"model": "m"}).encode(), "messages"),
        (json.dumps({"model": "m", "messages": []}).encode(), "messages"),
        (json.dumps({"model": "m", "messages": ["hi"]}).encode(), "messages[0]"),
        (
            json.dumps({"model": "m", "messages": [{"role": "user", "content": 3}]}).encode(),
            "messages[0].content",
        ),
        (json.dumps({"model": "m", "messages": USER_HELLO, "n": 2}).encode(), "n"),
        (json.dumps({"model": "m", "messages": USER_HELLO, "stream": True}).encode(), "stream"),
        (
            json.dumps(
                {"model": "m", "messages": USER_HELLO, "response_format": {"type": "yaml"}}
            ).encode(),
            "response_format.type",
        ),
        (
            json.dumps(
                {
                    "model": "m",
                    "messages": USER_HELLO,
                    "response_format": {"type": "json_schema", "json_schema": {}},
                }
            ).encode(),
            "response_format.json_schema.name",
        ),
    ],
)
def test_invalid_requests_are_400(
    local_server: LocalServer, body: bytes, param: str | None
) -> None:
    status, _, payload = raw_request(local_server, "POST", "/v1/chat/completions", body)
    assert status == 400
    error = assert_openai_error(payload)
    assert error["type"] == "invalid_request_error"
    assert error["param"] == param
    assert local_server.requests[-1].status == 400


def test_sdk_sees_400_for_n_and_stream(client: openai.OpenAI) -> None:
    with pytest.raises(openai.BadRequestError, match="n=2"):
        client.chat.completions.create(model="m", messages=USER_HELLO, n=2)
    with pytest.raises(openai.BadRequestError, match="Streaming is not supported") as caught:
        client.chat.completions.create(model="m", messages=USER_HELLO, stream=True)
    assert caught.value.param == "stream"
    with pytest.raises(openai.BadRequestError):
        client.chat.completions.create(model="m", messages=[])


def test_server_survives_a_bad_request_on_a_kept_alive_connection(
    local_server: LocalServer,
) -> None:
    connection = http.client.HTTPConnection("127.0.0.1", local_server.port, timeout=10)
    try:
        connection.request("POST", "/v1/chat/completions", body=b"{")
        assert connection.getresponse().read()
        good = json.dumps({"model": "m", "messages": USER_HELLO})
        connection.request("POST", "/v1/chat/completions", body=good)
        response = connection.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["choices"][0]["message"]["content"] == "[scripted] hello"
    finally:
        connection.close()


def test_chunked_request_body_is_read(local_server: LocalServer) -> None:
    body = json.dumps({"model": "m", "messages": USER_HELLO}).encode()
    connection = http.client.HTTPConnection("127.0.0.1", local_server.port, timeout=10)
    try:
        connection.request(
            "POST",
            "/v1/chat/completions",
            body=iter([body[:10], body[10:]]),
            headers={"Transfer-Encoding": "chunked"},
            encode_chunked=True,
        )
        response = connection.getresponse()
        assert response.status == 200
        assert json.loads(response.read())["model"] == "m"
    finally:
        connection.close()


# -- scripts through HTTP --------------------------------------------------------------------------


def test_rules_answer_through_the_sdk(local_server: LocalServer, client: openai.OpenAI) -> None:
    script = local_server.script
    by_system = script.when(system=r"^You are a judge").reply("guilty")
    by_user = script.when(user=r"\d+ \+ \d+").reply(lambda request: str(eval(request.user)))
    as_dict = script.when(schema="Answer").reply({"answer": "forty-two"})

    def ask(*messages: dict[str, Any], **kwargs: Any) -> str | None:
        completion = client.chat.completions.create(
            model="m",
            messages=list(messages),
            **kwargs,
        )
        return completion.choices[0].message.content

    assert (
        ask({"role": "system", "content": "You are a judge."}, {"role": "user", "content": "1 + 1"})
        == "guilty"
    )
    assert ask({"role": "user", "content": "20 + 22"}) == "42"
    answer_format = {
        "type": "json_schema",
        "json_schema": {"name": "Answer", "schema": {"type": "object"}},
    }
    assert json.loads(
        ask({"role": "user", "content": "?"}, response_format=answer_format) or ""
    ) == {"answer": "forty-two"}
    assert (by_system.hits, by_user.hits, as_dict.hits) == (1, 1, 1)


def test_content_parts_are_text(local_server: LocalServer, client: openai.OpenAI) -> None:
    local_server.script.when(user="second part").reply("matched parts")
    completion = client.chat.completions.create(
        model="m",
        messages=[
            {
                "role": "user",
                "content": [
                    {"type": "text", "text": "first part"},
                    {"type": "image_url", "image_url": {"url": "data:image/png;base64,AAAA"}},
                    {"type": "text", "text": "second part"},
                ],
            }
        ],
    )
    assert completion.choices[0].message.content == "matched parts"
    assert local_server.requests[-1].messages[0]["content"][0]["text"] == "first part"


def test_callables_see_the_request(local_server: LocalServer, client: openai.OpenAI) -> None:
    seen: list[ChatRequest] = []

    def reply(request: ChatRequest) -> str:
        seen.append(request)
        return f"{request.model}|{request.system}|{request.user}"

    local_server.script.when().reply(reply)
    completion = client.chat.completions.create(
        model="gpt-4.1",
        messages=[
            {"role": "system", "content": "sys A"},
            {"role": "developer", "content": "sys B"},
            {"role": "user", "content": "first"},
            {"role": "assistant", "content": "reply"},
            {"role": "user", "content": "last"},
        ],
        temperature=0.0,
    )
    assert completion.choices[0].message.content == "gpt-4.1|sys A\n\nsys B|last"
    (request,) = seen
    assert request.body["temperature"] == 0.0
    assert request.text == "sys A\n\nsys B\n\nfirst\n\nreply\n\nlast"
    assert request.attempt == 0


def test_reply_controls_usage_status_and_finish_reason(
    local_server: LocalServer, client: openai.OpenAI
) -> None:
    script = local_server.script
    script.when(user="usage").reply(
        Reply(
            "ok",
            usage={
                "prompt_tokens": 100,
                "completion_tokens": 7,
                "cached_tokens": 40,
                "reasoning_tokens": 5,
            },
            finish_reason="length",
        )
    )
    script.when(user="overloaded").reply(Reply("engine overloaded", status=503))
    script.when(user="slow down").reply(
        Reply("too many requests", status=429, headers={"Retry-After": "7"})
    )

    completion = client.chat.completions.create(
        model="m", messages=[{"role": "user", "content": "usage"}]
    )
    assert completion.choices[0].finish_reason == "length"
    usage = completion.usage
    assert usage is not None
    assert (usage.prompt_tokens, usage.completion_tokens, usage.total_tokens) == (100, 7, 107)
    assert usage.prompt_tokens_details is not None
    assert usage.prompt_tokens_details.cached_tokens == 40
    assert usage.completion_tokens_details is not None
    assert usage.completion_tokens_details.reasoning_tokens == 5

    with pytest.raises(openai.InternalServerError, match="engine overloaded") as server_error:
        client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "overloaded"}]
        )
    assert server_error.value.status_code == 503
    with pytest.raises(openai.RateLimitError) as rate_error:
        client.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "slow down"}]
        )
    assert rate_error.value.response.headers["retry-after"] == "7"


def test_script_errors_become_500_and_are_logged(
    local_server: LocalServer, client: openai.OpenAI, caplog: pytest.LogCaptureFixture
) -> None:
    def broken(request: ChatRequest) -> str:
        raise KeyError("missing fixture")

    local_server.script.when().reply(broken)
    with pytest.raises(openai.InternalServerError, match="KeyError"):
        client.chat.completions.create(model="m", messages=USER_HELLO)
    record = local_server.requests[-1]
    assert record.status == 500
    assert record.error is not None and "missing fixture" in record.error
    assert any("script raised" in message for message in caplog.messages)


def test_plain_callable_script_falls_back_to_default() -> None:
    def script(request: ChatRequest) -> str | None:
        return "handled" if "handle" in request.user else None

    with (
        LocalServer(script) as server,
        openai.OpenAI(base_url=server.base_url, api_key=server.api_key) as sdk,
    ):

        def ask(text: str) -> str | None:
            messages = [{"role": "user", "content": text}]
            return (
                sdk.chat.completions.create(model="m", messages=messages).choices[0].message.content
            )

        assert ask("please handle this") == "handled"
        assert ask("other") == "[scripted] other"
        assert isinstance(server.script, ScriptedModel)


def test_parse_with_a_pydantic_model(client: openai.OpenAI) -> None:
    pydantic = pytest.importorskip("pydantic")

    class Step(pydantic.BaseModel):
        explanation: str
        output: int

    class Solution(pydantic.BaseModel):
        steps: list[Step]
        final_answer: str
        confidence: float | None

    completion = client.chat.completions.parse(
        model="gpt-4o", messages=USER_HELLO, response_format=Solution
    )
    solution = completion.choices[0].message.parsed
    assert isinstance(solution, Solution)
    assert solution.steps[0].output == 0
    assert solution.final_answer == "[scripted] final_answer"


# -- request log, concurrency, latency -------------------------------------------------------------


def test_request_log_records_each_request(local_server: LocalServer, client: openai.OpenAI) -> None:
    response_format = {"type": "json_object"}
    client.chat.completions.create(
        model="gpt-4o",
        messages=USER_HELLO,
        response_format=response_format,
    )
    client.models.list()

    first, second = local_server.requests
    assert (first.index, first.method, first.path) == (0, "POST", "/v1/chat/completions")
    assert first.model == "gpt-4o"
    assert first.messages == USER_HELLO
    assert first.response_format == response_format
    assert first.body["model"] == "gpt-4o"
    assert first.status == 200
    assert first.content == "{}"
    assert first.response is not None and first.response["choices"][0]["message"]["content"] == "{}"
    assert first.fault is None and first.error is None
    assert first.headers["authorization"] == f"Bearer {local_server.api_key}"
    assert first.end is not None and first.end >= first.start
    assert (second.index, second.method, second.path, second.status) == (
        1,
        "GET",
        "/v1/models",
        200,
    )

    local_server.clear_log()
    assert local_server.requests == []
    assert local_server.max_in_flight == 0
    client.chat.completions.create(
        model="gpt-4o",
        messages=USER_HELLO,
        response_format=response_format,
    )
    (again,) = local_server.requests
    assert again.index == 0
    assert again.attempt == 1  # clear_log keeps the count of identical bodies; reset() drops it
    local_server.reset()
    client.chat.completions.create(
        model="gpt-4o",
        messages=USER_HELLO,
        response_format=response_format,
    )
    assert local_server.requests[0].attempt == 0


def test_eight_async_requests_are_in_flight_together() -> None:
    async def run(server: LocalServer) -> list[str | None]:
        async with openai.AsyncOpenAI(base_url=server.base_url, api_key=server.api_key) as sdk:
            completions = await asyncio.gather(
                *[
                    sdk.chat.completions.create(
                        model="m", messages=[{"role": "user", "content": f"question {i}"}]
                    )
                    for i in range(8)
                ]
            )
        return [completion.choices[0].message.content for completion in completions]

    with LocalServer(latency=0.2) as server:
        answers = asyncio.run(run(server))
        assert answers == [f"[scripted] question {i}" for i in range(8)]
        assert server.max_in_flight >= 8
        assert len(server.requests) == 8
        assert all(record.latency == 0.2 for record in server.requests)


def test_sixty_four_requests_are_handled_at_once() -> None:
    # Every reply waits until all 64 requests are inside the server: only true concurrency passes.
    barrier = threading.Barrier(64, timeout=20)

    def reply(request: ChatRequest) -> str:
        barrier.wait()
        return request.user

    async def run(server: LocalServer) -> list[str | None]:
        async with openai.AsyncOpenAI(
            base_url=server.base_url, api_key=server.api_key, max_retries=0
        ) as sdk:
            completions = await asyncio.gather(
                *[
                    sdk.chat.completions.create(
                        model="m", messages=[{"role": "user", "content": str(i)}]
                    )
                    for i in range(64)
                ]
            )
        return [completion.choices[0].message.content for completion in completions]

    script = ScriptedModel()
    script.when().reply(reply)
    with LocalServer(script) as server:
        assert asyncio.run(run(server)) == [str(i) for i in range(64)]
        assert server.max_in_flight == 64


def test_latency_range_is_deterministic_per_request() -> None:
    def latencies(server: LocalServer) -> dict[str, list[float]]:
        with openai.OpenAI(base_url=server.base_url, api_key=server.api_key) as sdk:
            for text in ["a", "b", "a", "c", "b"]:
                sdk.chat.completions.create(model="m", messages=[{"role": "user", "content": text}])
        result: dict[str, list[float]] = {}
        for record in server.requests:
            result.setdefault(record.messages[0]["content"], []).append(record.latency)
        return result

    with LocalServer(latency=(0.001, 0.02)) as server:
        first = latencies(server)
    with LocalServer(latency=(0.001, 0.02)) as server:
        second = latencies(server)

    assert first == second
    assert first["a"][0] == first["a"][1] and first["b"][0] == first["b"][1]
    assert len({first["a"][0], first["b"][0], first["c"][0]}) == 3
    assert all(0.001 <= value <= 0.02 for values in first.values() for value in values)


def test_a_rule_overrides_latency(local_server: LocalServer, client: openai.OpenAI) -> None:
    local_server.latency = 5.0
    local_server.script.when(user="^fast$").reply("quick", latency=0.0)
    local_server.script.when(user="^faster$").reply(Reply("quicker", latency=0.001), latency=0.0)

    def ask(text: str) -> str | None:
        messages = [{"role": "user", "content": text}]
        completion = client.chat.completions.create(model="m", messages=messages)
        return completion.choices[0].message.content

    assert ask("fast") == "quick"
    assert local_server.requests[-1].latency == 0.0
    assert ask("faster") == "quicker"
    assert local_server.requests[-1].latency == 0.001  # the Reply's own latency wins


def test_latency_validation() -> None:
    with pytest.raises(ValueError, match="latency"):
        LocalServer(latency=-1.0)
    with pytest.raises(ValueError, match="low <= high"):
        LocalServer(latency=(0.3, 0.1))


# -- lifecycle -------------------------------------------------------------------------------------


def test_lifecycle() -> None:
    server = LocalServer()
    with pytest.raises(RuntimeError, match="start"):
        _ = server.base_url
    server.start()
    assert server.running
    assert server.base_url == f"http://127.0.0.1:{server.port}/v1"
    with pytest.raises(RuntimeError, match="already running"):
        server.start()
    server.stop()
    server.stop()
    assert not server.running
    with server:  # restartable
        status, _, _ = raw_request(server, "GET", "/v1/models")
        assert status == 200
    assert "stopped" in repr(server)


def test_stop_is_prompt_with_a_held_request(
    local_server: LocalServer, wait_until: Callable[..., None]
) -> None:
    # The hold lasts an hour: only a prompt stop() lets the client go within the test.
    local_server.faults = Faults(timeout_seconds=3600.0)
    local_server.inject("timeout")
    errors: list[BaseException] = []

    def call() -> None:
        with openai.OpenAI(
            base_url=local_server.base_url, api_key=local_server.api_key, max_retries=0
        ) as sdk:
            try:
                sdk.chat.completions.create(model="m", messages=USER_HELLO)
            except openai.APIError as error:
                errors.append(error)

    thread = threading.Thread(target=call)
    thread.start()
    # Wait until the request is held, not merely arrived: a request counts as in flight as soon
    # as its headers are read, and a stop() before its fault is drawn drops it unfaulted.
    wait_until(lambda: local_server.requests and local_server.requests[-1].fault == "timeout")
    local_server.stop()
    thread.join(timeout=60)
    assert not thread.is_alive()
    assert len(errors) == 1 and isinstance(errors[0], openai.APIConnectionError)
    assert local_server.requests[-1].fault == "timeout"
    assert local_server.requests[-1].status is None


def test_script_can_be_replaced(local_server: LocalServer, client: openai.OpenAI) -> None:
    local_server.script = lambda request: "replaced"
    assert (
        client.chat.completions.create(model="m", messages=USER_HELLO).choices[0].message.content
        == "replaced"
    )
    with pytest.raises(TypeError, match="ScriptedModel or a callable"):
        local_server.script = 42


# -- package and plugin ----------------------------------------------------------------------------


def test_public_names() -> None:
    for name in afnio.testing.__all__:
        assert getattr(afnio.testing, name) is not None
    assert set(afnio.testing.__all__) <= set(dir(afnio.testing))
    with pytest.raises(AttributeError, match="no attribute"):
        _ = afnio.testing.nothing_here


def test_openai_env_points_the_default_client_at_the_server(openai_env: LocalServer) -> None:
    openai_env.script.when(user="ping").reply("pong")
    with openai.OpenAI() as sdk:
        completion = sdk.chat.completions.create(
            model="m", messages=[{"role": "user", "content": "ping"}]
        )
    assert completion.choices[0].message.content == "pong"
    assert len(openai_env.requests) == 1


def test_an_internal_failure_is_a_500_not_a_dropped_connection(
    local_server: LocalServer, client: openai.OpenAI, monkeypatch: pytest.MonkeyPatch
) -> None:
    from afnio.testing import _http as http_module

    def broken(*args: Any) -> dict[str, Any]:
        raise RuntimeError("bug in the server")

    monkeypatch.setattr(http_module._Handler, "_completion", broken)
    with pytest.raises(openai.InternalServerError, match="bug in the server"):
        client.chat.completions.create(model="m", messages=USER_HELLO)
    assert local_server.requests[-1].error is not None
    monkeypatch.undo()
    assert client.chat.completions.create(model="m", messages=USER_HELLO).choices
