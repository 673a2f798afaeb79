"""The client against servers it did not write: replies that are HTTP 200 but unusable, servers
that never answer, refused connections, keys and model names a server rejects. Each case is a
mode of afnio.testing's server; each failure must say what happened, where, and to what."""

from __future__ import annotations

import asyncio
import json
import logging
import socket
import traceback
import warnings
from typing import Any

import pytest

import afnio
import afnio.cognitive.functional as F
from afnio.models import AsyncOpenAI, ModelCallError, OpenAI
from afnio.models._progress import WaitNotices
from afnio.testing import Faults, LocalServer, Reply

PING = [{"role": "user", "content": "ping"}]
SENTIMENT: Any = {
    "type": "json_schema",
    "json_schema": {
        "name": "Sentiment",
        "strict": True,
        "schema": {
            "type": "object",
            "properties": {"sentiment": {"enum": ["positive", "negative"]}},
            "required": ["sentiment"],
            "additionalProperties": False,
        },
    },
}
GOOD = '{"sentiment": "positive"}'


def _always(kind: str, **options: Any) -> LocalServer:
    return LocalServer(faults=Faults(rate=1.0, kinds=(kind,), **options))


# -- point 1: structured replies are checked in the forward pass -------------------------------


@pytest.mark.parametrize("kind", ["truncated_json", "malformed_json"])
def test_cut_or_broken_json_is_retried_until_it_is_valid(local_server, make_client, kind):
    local_server.script.when(user="ping").reply(GOOD)
    local_server.inject(kind, times=2)
    client = make_client()
    assert client.chat(messages=PING, model="gpt-4o", response_format=SENTIMENT) == GOOD
    assert [r.fault for r in local_server.requests] == [kind, kind, None]
    assert client.calls[-1].retries == 2


def test_truncated_json_in_a_batch_never_reaches_the_output(make_client, local_server):
    # 30 % of the attempts are cut in half with finish_reason="length": every output parses.
    local_server.script.when(user="review").reply(GOOD)
    local_server.faults = Faults(rate=0.3, kinds=("truncated_json",), seed=4)
    client = make_client(max_retries=6)
    user = afnio.Variable("review {i}", role="user")
    out = F.chat_completion(
        client,
        [{"role": "user", "content": [user]}],
        inputs={"i": [str(i) for i in range(20)]},
        model="gpt-4o",
        response_format=SENTIMENT,
    )
    assert [json.loads(text) for text in out.data] == [{"sentiment": "positive"}] * 20
    assert any(r.fault == "truncated_json" for r in local_server.requests)


def test_truncated_json_that_persists_raises_saying_so(make_client):
    with _always("truncated_json") as server:
        server.script.when(user="ping").reply(GOOD)
        client = make_client(base_url=server.base_url, max_retries=2)
        with pytest.raises(ModelCallError) as info:
            client.chat(messages=PING, model="gpt-4o", response_format=SENTIMENT)
    message = str(info.value)
    assert "gave up after 3 attempts" in message
    assert "the JSON reply was cut off (finish_reason='length')" in message
    assert info.value.error_type == "UnusableReply"
    assert len(server.requests) == 3


def test_a_reply_that_breaks_the_schema_is_retried_then_raises(local_server, make_client):
    local_server.script.when(user="ping").reply('{"sentiment": "meh"}')
    client = make_client(max_retries=1)
    with pytest.raises(ModelCallError) as info:
        client.chat(messages=PING, model="gpt-4o", response_format=SENTIMENT)
    assert "breaks the JSON schema 'Sentiment': $.sentiment is 'meh', not one of" in str(info.value)
    assert len(local_server.requests) == 2


def test_plain_text_requests_are_not_checked_as_json(local_server, make_client):
    local_server.script.when(user="ping").reply("{not json")
    assert make_client().chat(messages=PING, model="gpt-4o") == "{not json"


def test_a_bad_cached_structured_reply_is_not_served(local_server, make_client, tmp_path):
    local_server.script.when(user="ping").reply(GOOD)
    local_server.inject("truncated_json")
    client = make_client(cache=tmp_path / "cache.sqlite")
    assert client.chat(messages=PING, model="gpt-4o", response_format=SENTIMENT) == GOOD
    again = client.chat(messages=PING, model="gpt-4o", response_format=SENTIMENT)
    assert again == GOOD and client.calls[-1].cache_hit


# -- point 2: a 200 reply that is not a chat completion ---------------------------------------


@pytest.mark.parametrize("kind", ["html", "truncated_body"])
def test_a_200_reply_that_is_not_a_completion_is_retried(local_server, make_client, kind):
    local_server.script.when(user="ping").reply("pong")
    local_server.inject(kind, times=2)
    client = make_client()
    assert client.chat(messages=PING, model="gpt-4o") == "pong"
    assert [r.fault for r in local_server.requests] == [kind, kind, None]


def test_an_html_reply_raises_naming_the_url_and_what_came_back(make_client):
    with _always("html") as server:
        client = make_client(base_url=server.base_url, max_retries=1)
        with pytest.raises(ModelCallError) as info:
            client.chat(messages=PING, model="gpt-4o")
    message = str(info.value)
    assert server.base_url in message
    assert "not a chat completion: '<!DOCTYPE html> <html><head><title>Sign in" in message
    assert "AttributeError" not in message


# -- point 3: a server that never answers ------------------------------------------------------


def test_the_default_timeout_is_bounded_and_a_call_has_a_deadline(client_cls):
    client = client_cls(base_url="http://127.0.0.1:9/v1", api_key="k")
    config = client.get_config()
    assert config["timeout"] == 60.0 and config["deadline"] == 300.0
    with pytest.raises(ValueError, match="deadline"):
        client_cls(base_url="http://127.0.0.1:9/v1", api_key="k", deadline=0)


def test_a_hung_server_times_out_per_attempt_and_every_retry_is_a_warning(make_client, caplog):
    with _always("hang") as server:
        client = make_client(base_url=server.base_url, timeout=0.2, max_retries=1)
        with (
            caplog.at_level(logging.WARNING, "afnio.models"),
            pytest.raises(ModelCallError) as info,
        ):
            client.chat(messages=PING, model="gpt-4o")
    assert (
        "the server did not answer within the 0.2 s per-attempt timeout (APITimeoutError)"
        in str(info.value)
    )
    (retry,) = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert retry.levelno == logging.WARNING
    assert "attempt 1 of 2 failed: the server did not answer" in retry.getMessage()
    assert server.base_url in retry.getMessage()


def test_the_call_deadline_bounds_every_attempt(make_client):
    with _always("hang") as server:
        client = make_client(base_url=server.base_url, deadline=0.3, max_retries=50)
        with pytest.raises(ModelCallError) as info:
            client.chat(messages=PING, model="gpt-4o")
    assert "(0.3 s deadline per call)" in str(info.value)
    assert info.value.attempts < 51


def test_a_long_wait_is_reported_while_it_lasts(make_client, caplog):
    with _always("hang") as server:
        client = make_client(base_url=server.base_url, timeout=1.0, max_retries=0)
        client._notices.after = 0.1  # as after 5 s, sooner
        with caplog.at_level(logging.WARNING, "afnio.models"), pytest.raises(ModelCallError):
            client.chat(messages=PING, model="gpt-4o")
    waits = [r.getMessage() for r in caplog.records if "still waiting" in r.getMessage()]
    assert waits, caplog.text
    assert f"model 'gpt-4o' at {server.base_url}: still waiting after" in waits[0]
    assert "(attempt 1 of 1; 1 s per attempt, 300 s deadline per call)" in waits[0]


def test_one_report_speaks_for_every_waiting_call() -> None:
    import asyncio

    reports: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            reports.append(record.getMessage())

    log = logging.getLogger("afnio.tests.waits")
    log.addHandler(Collect())
    log.propagate = False
    notices = WaitNotices(log, lambda token, seconds: f"waiting for {token}", after=0.05, every=10)

    async def main() -> None:
        keys = [notices.begin(name) for name in ("a", "b", "c")]
        await asyncio.sleep(0.3)
        for key in keys:
            notices.end(key)

    asyncio.run(main())
    assert reports == ["waiting for a (2 more calls of this client waiting)"]


# -- point 4: errors name the operation, the phase, the sample and the URL ---------------------


def test_a_forward_failure_names_the_operation_phase_and_sample(local_server, make_client):
    local_server.script.when(user="review 1").reply(Reply("down", status=500))
    client = make_client(max_retries=0)
    user = afnio.Variable("review {i}", role="user", requires_grad=True)
    with pytest.raises(ModelCallError) as info:
        F.chat_completion(
            client, [{"role": "user", "content": [user]}], inputs={"i": ["0", "1"]}, model="gpt-4o"
        )
    message = str(info.value)
    assert message.startswith(
        f"ChatCompletion forward, sample 1: openai model 'gpt-4o' at {local_server.base_url}"
    )
    assert "Backward0" not in message
    assert info.value.operation == "ChatCompletion forward, sample 1"
    assert info.value.base_url == local_server.base_url


def test_the_traceback_starts_near_the_callers_line(local_server, make_client):
    local_server.inject("500", times=5)
    client = make_client(max_retries=0)
    user = afnio.Variable("hi", role="user")
    try:
        F.chat_completion(client, [{"role": "user", "content": [user]}], model="gpt-4o")
    except ModelCallError as error:
        frames = traceback.extract_tb(error.__traceback__)
    else:
        pytest.fail("no error")
    assert frames[0].name == "test_the_traceback_starts_near_the_callers_line"
    assert len(frames) <= 6, traceback.format_list(frames)
    assert not any("asyncio" in frame.filename for frame in frames)


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.mark.parametrize("client_cls", [AsyncOpenAI, OpenAI], ids=["async", "sync"])
def test_connection_refused_names_the_url(client_cls):
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    client = client_cls(base_url=url, api_key="k", max_retries=1, retry_base_delay=0.01)
    with pytest.raises(ModelCallError) as info:
        client.chat(messages=PING, model="gpt-4o")
    message = str(info.value)
    assert f"openai model 'gpt-4o' at {url} gave up after 2 attempts" in message
    assert "cannot connect to the server: Connection refused (API" in message
    assert "Connection error." not in message


def test_a_refused_key_says_so_and_is_not_retried(make_client):
    with LocalServer(check_api_key=True) as server:
        client = make_client(base_url=server.base_url, api_key="sk-wrong-key-123")
        with pytest.raises(ModelCallError) as info:
            client.chat(messages=PING, model="gpt-4o")
    message = str(info.value)
    assert "failed after 1 attempt (HTTP 401 is not retried)" in message
    assert "the API key was refused: check `api_key` or OPENAI_API_KEY" in message
    assert "Incorrect API key provided: sk-***23" in message
    assert "sk-wrong-key-123" not in message
    with LocalServer(check_api_key=True) as server:
        client = make_client(base_url=server.base_url, api_key=server.api_key)
        assert client.chat(messages=PING, model="gpt-4o")


def test_an_unknown_model_says_so(make_client):
    with LocalServer(known_models_only=True) as server:
        client = make_client(base_url=server.base_url)
        with pytest.raises(ModelCallError) as info:
            client.chat(messages=PING, model="gpt-5-turbo-max")
    message = str(info.value)
    assert "HTTP 404, the server does not serve this model: check the model name" in message
    assert "The model `gpt-5-turbo-max` does not exist" in message


# -- point 5: price warnings point at the caller and say once per endpoint ---------------------


def test_unpriced_models_of_a_local_server_warn_once_at_the_callers_line(local_server, make_client):
    client = make_client()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client.chat(messages=PING, model="llama3.2")
        client.chat(messages=PING, model="qwen2.5")
    (warning,) = [w for w in caught if "cost" in str(w.message).lower()]
    assert warning.filename == __file__
    assert str(warning.message).startswith(f"Cost is not computed for {local_server.base_url}")
    assert client.unpriced_models == frozenset({"llama3.2", "qwen2.5"})


def test_an_awaited_call_warns_at_the_line_that_awaits_it(local_server, make_client):
    client = make_client()

    async def user_code() -> str:
        return await client.achat(messages=PING, model="llama3.2")  # the line warned about

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        asyncio.run(user_code())
    (warning,) = [w for w in caught if "cost" in str(w.message).lower()]
    assert warning.filename == __file__
    assert warning.lineno == user_code.__code__.co_firstlineno + 1


def test_a_warning_from_backward_points_at_the_backward_line(local_server, make_client):
    client = make_client()
    user = afnio.Variable("hi", role="user")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        F.chat_completion(client, [{"role": "user", "content": [user]}], model="llama3.2")
    (warning,) = [w for w in caught if "cost" in str(w.message).lower()]
    assert warning.filename == __file__
