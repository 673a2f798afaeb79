"""The backward model client singleton."""

from __future__ import annotations

import asyncio

import pytest

import afnio
from afnio._model_client import ModelClientSingleton
from afnio.models import OpenAI


@pytest.fixture(autouse=True)
def forget_singleton():
    ModelClientSingleton._instance = None
    yield
    ModelClientSingleton._instance = None


def test_unset_client_raises():
    with pytest.raises(RuntimeError, match="No global model client set for backward pass"):
        afnio.get_backward_model_client()


@pytest.mark.parametrize("path", ["gpt-4o", "openai/", "/gpt-4o"])
def test_bad_model_path(path):
    with pytest.raises(ValueError, match="provider/model"):
        afnio.set_backward_model_client(path)


def test_unsupported_provider():
    with pytest.raises(ValueError, match="Unsupported provider: anthropic."):
        afnio.set_backward_model_client("anthropic/claude")


def test_attributes_and_reinitialisation(local_server):
    client_args = {"api_key": "test-key", "organization": "test-org"}
    completion_args = {"model": "gpt-4o", "temperature": 0.5}
    afnio.set_backward_model_client("openai/gpt-4o", client_args, completion_args)
    singleton = afnio.get_backward_model_client()
    assert singleton is ModelClientSingleton()
    assert singleton._provider == "openai" and singleton._model == "gpt-4o"
    assert singleton._client_args == client_args
    assert singleton._completion_args == completion_args
    assert isinstance(singleton._client, OpenAI)
    assert client_args == {"api_key": "test-key", "organization": "test-org"}  # not mutated
    first = singleton._client
    afnio.set_backward_model_client("openai/gpt-4o", dict(client_args), dict(completion_args))
    assert singleton._client is first  # nothing changed: no new client
    afnio.set_backward_model_client("openai/gpt-4o-mini", client_args, completion_args)
    assert singleton._client is not first and singleton._model == "gpt-4o-mini"
    assert "test-key" not in repr(singleton)


def test_chat_merges_completion_args(local_server):
    local_server.script.when(user="ping").reply("pong")
    afnio.set_backward_model_client(
        "openai/gpt-4o-mini",
        client_args={"base_url": local_server.base_url, "api_key": "k", "max_concurrency": 2},
        completion_args={"temperature": 0.5, "seed": 3},
    )
    singleton = afnio.get_backward_model_client()
    assert singleton.chat([{"role": "user", "content": "ping"}], temperature=0) == "pong"
    body = local_server.requests[-1].body
    assert body["model"] == "gpt-4o-mini" and body["temperature"] == 0 and body["seed"] == 3
    reply = asyncio.run(singleton.achat([{"role": "user", "content": "ping"}], model="gpt-4o"))
    assert reply == "pong" and local_server.requests[-1].body["model"] == "gpt-4o"
    assert singleton.get_provider() == "openai"
    assert singleton.get_usage()["total_tokens"] > 0
    assert len(singleton.calls) == 2
    singleton.clear_usage()
    assert singleton.get_usage()["total_tokens"] == 0
    assert singleton.client.get_config()["max_concurrency"] == 2


def test_client_args_may_carry_a_cache(local_server, tmp_path):
    local_server.script.when(user="ping").reply("pong")
    afnio.set_backward_model_client(
        "openai/gpt-4o",
        client_args={"base_url": local_server.base_url, "api_key": "k", "cache": tmp_path / "c"},
    )
    singleton = afnio.get_backward_model_client()
    singleton.chat([{"role": "user", "content": "ping"}])
    singleton.chat([{"role": "user", "content": "ping"}])
    assert len(local_server.requests) == 1
