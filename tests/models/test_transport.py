"""The request path of OpenAI / AsyncOpenAI: plain-JSON arguments go through the SDK's ``post``
exactly as ``chat.completions.create`` would send them; anything else through ``create``."""

from __future__ import annotations

import asyncio
import datetime

import openai
import pytest

from afnio.models import AsyncOpenAI
from afnio.models._transport import split_request

PING = [{"role": "user", "content": "ping"}]
ARGS = {
    "temperature": 0,
    "seed": 7,
    "max_completion_tokens": 64,
    "response_format": {
        "type": "json_schema",
        "json_schema": {
            "name": "answer",
            "strict": True,
            "schema": {
                "type": "object",
                "properties": {"answer": {"type": "string"}},
                "required": ["answer"],
                "additionalProperties": False,
            },
        },
    },
    "extra_headers": {"X-Trace": "t-1"},
    "extra_body": {"custom_field": [1, 2]},
}


def test_split_request_separates_body_and_request_options():
    body, options = split_request(PING, "gpt-4o", {**ARGS, "extra_query": {"a": "1"}}) or ({}, {})
    assert body == {
        "messages": PING,
        "model": "gpt-4o",
        **{k: v for k, v in ARGS.items() if not k.startswith("extra_")},
    }
    assert options == {
        "headers": {"X-Trace": "t-1"},
        "extra_json": {"custom_field": [1, 2]},
        "params": {"a": "1"},
    }
    assert split_request(PING, "gpt-4o", {"timeout": None}) == (
        {"messages": PING, "model": "gpt-4o"},
        {"timeout": None},
    )


@pytest.mark.parametrize(
    "messages, args",
    [
        ([{"role": "user", "content": ("ping",)}], {}),  # a tuple
        (({"role": "user", "content": "ping"},), {}),
        (PING, {"metadata": {"day": datetime.date(2026, 1, 1)}}),
        (PING, {"stop": iter(["x"])}),
        ([{1: "user"}], {}),  # a key JSON would change
    ],
)
def test_arguments_that_are_not_plain_json_are_left_to_create(messages, args):
    assert split_request(messages, "gpt-4o", args) is None


def _last_chat(server):
    return [r for r in server.requests if r.path.endswith("/chat/completions")][-1]


def test_the_server_receives_what_create_sends(local_server, make_client, secret):
    local_server.script.when(user="ping").reply({"answer": "pong"})
    client = make_client()
    assert client.chat(messages=PING, model="gpt-4o", **ARGS) == '{"answer": "pong"}'
    mine = _last_chat(local_server)

    async def bare() -> None:
        sdk = openai.AsyncOpenAI(base_url=local_server.base_url, api_key=secret, max_retries=0)
        try:
            await sdk.chat.completions.create(messages=PING, model="gpt-4o", **ARGS)
        finally:
            await sdk.close()

    asyncio.run(bare())
    theirs = _last_chat(local_server)
    assert mine.body == theirs.body
    assert mine.body["custom_field"] == [1, 2]
    for name in ("authorization", "x-trace", "content-type"):
        assert mine.headers[name] == theirs.headers[name], name
    assert mine.headers["authorization"] == f"Bearer {secret}"


def test_arguments_that_are_not_plain_json_still_reach_the_server(local_server, make_client):
    local_server.script.when(user="ping").reply("pong")
    client = make_client()
    messages = ({"role": "user", "content": "ping"},)
    assert client.chat(messages=messages, model="gpt-4o", stop=("never",)) == "pong"
    sent = _last_chat(local_server).body
    assert sent["messages"] == PING and sent["stop"] == ["never"]
    assert client.calls[-1].messages == PING


def test_a_per_call_timeout_applies_to_the_attempt(local_server, make_client):
    local_server.script.when(user="ping").reply("pong")
    local_server.latency = 1.0
    client = make_client(max_retries=0)
    with pytest.raises(Exception) as caught:
        client.chat(messages=PING, model="gpt-4o", timeout=0.1)
    assert "APITimeoutError" in str(caught.value)


def test_async_clients_use_the_sdks_aiohttp_transport_when_installed(local_server, secret):
    pytest.importorskip("aiohttp")
    with AsyncOpenAI(base_url=local_server.base_url, api_key=secret) as client:
        assert isinstance(client._client._client, openai.DefaultAioHttpClient)
        local_server.script.when(user="ping").reply("pong")
        assert client.chat(messages=PING, model="gpt-4o") == "pong"
