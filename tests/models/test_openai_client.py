"""OpenAI / AsyncOpenAI over the real SDK against the local server: usage, cost, retries,
errors, concurrency, records and secrets."""

from __future__ import annotations

import asyncio
import copy
import io
import logging
import threading
import warnings

import openai
import pytest

import afnio
from afnio.models import INITIAL_USAGE, AsyncOpenAI, ModelCall, ModelCallError, OpenAI
from afnio.models._retry import RetryPolicy
from afnio.testing import Faults, Reply

PING = [{"role": "user", "content": "ping"}]
SECRET = "sk-afnio-test-SECRET-0123456789"  # as in conftest.py


def test_fresh_usage_is_exactly_initial_usage(make_client):
    client = make_client()
    assert client.get_usage() == {
        "completion_tokens": 0,
        "prompt_tokens": 0,
        "total_tokens": 0,
        "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
        "completion_tokens_details": {
            "reasoning_tokens": 0,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        },
        "cost": {"amount": 0.0, "currency": "USD"},
    }
    assert client.get_usage() == INITIAL_USAGE
    assert client.get_provider() == "openai"


def test_usage_and_cost_arithmetic(local_server, make_client):
    usage = {"prompt_tokens": 1000, "completion_tokens": 200, "cached_tokens": 400}
    local_server.script.when(user="ping").reply(Reply("pong", usage=usage))
    client = make_client()
    assert client.chat(messages=PING, model="gpt-4o") == "pong"
    assert client.chat(messages=PING, model="gpt-4o") == "pong"
    got = client.get_usage()
    assert got["prompt_tokens"] == 2000
    assert got["completion_tokens"] == 400
    assert got["total_tokens"] == 2400
    assert got["prompt_tokens_details"]["cached_tokens"] == 800
    # gpt-4o: $2.5 per 1M uncached input, $1.25 cached, $10 output.
    one = (600 * 2.5 + 400 * 1.25 + 200 * 10.0) / 1e6
    assert got["cost"]["amount"] == pytest.approx(2 * one)
    assert client.calls[-1].cost == pytest.approx(one)
    assert client.calls[-1].usage["prompt_tokens"] == 1000


def test_dated_alias_uses_its_base_price(local_server, make_client):
    local_server.script.when(user="ping").reply(
        Reply("pong", usage={"prompt_tokens": 10, "completion_tokens": 10})
    )
    client = make_client()
    client.chat(messages=PING, model="gpt-4o-mini-2024-07-18")
    assert client.calls[-1].cost == pytest.approx((10 * 0.15 + 10 * 0.6) / 1e6)
    assert not client.unpriced_models


def test_clear_usage_zeroes_and_keeps_structure(local_server, make_client):
    local_server.script.when(user="ping").reply(
        Reply("pong", usage={"prompt_tokens": 7, "completion_tokens": 3})
    )
    client = make_client()
    client.chat(messages=PING, model="gpt-4o")
    client.clear_usage()
    assert client.get_usage() == INITIAL_USAGE
    client.chat(messages=PING, model="gpt-4o")
    assert client.get_usage()["prompt_tokens"] == 7  # not doubled


def test_update_usage_normalises_none_counters(make_client):
    client = make_client()
    client.update_usage(
        {
            "prompt_tokens": 5,
            "completion_tokens": None,
            "total_tokens": 5,
            "prompt_tokens_details": None,
            "completion_tokens_details": {"reasoning_tokens": None},
        },
        "gpt-4o",
    )
    got = client.get_usage()
    assert got["prompt_tokens"] == 5
    assert got["completion_tokens"] == 0
    assert got["prompt_tokens_details"] == {"cached_tokens": 0, "audio_tokens": 0}
    assert got["cost"]["amount"] == pytest.approx(5 * 2.5 / 1e6)
    # Restoring a saved usage (no model name) adds its cost.
    client.update_usage({"prompt_tokens": 1, "cost": {"amount": 0.5, "currency": "USD"}})
    assert client.get_usage()["cost"]["amount"] == pytest.approx(0.5 + 5 * 2.5 / 1e6)


def test_get_usage_is_a_deep_copy(make_client):
    client = make_client()
    usage = client.get_usage()
    usage["prompt_tokens_details"]["cached_tokens"] = 99
    assert client.get_usage()["prompt_tokens_details"]["cached_tokens"] == 0


def test_unknown_model_warns_once_and_has_no_cost(local_server, make_client):
    local_server.script.when(user="ping").reply("pong")
    client = make_client()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        client.chat(messages=PING, model="my-local-llama")
        client.chat(messages=PING, model="my-local-llama")
    found = [w for w in caught if "my-local-llama" in str(w.message)]
    assert len(found) == 1
    # A local server's models are unpriced: said once per client, at the caller's line.
    assert str(found[0].message).startswith("Cost is not computed for http://127.0.0.1:")
    assert found[0].filename == __file__
    assert client.calls[-1].cost is None
    assert client.get_usage()["cost"]["amount"] == 0.0
    assert client.get_usage()["total_tokens"] > 0
    assert client.unpriced_models == frozenset({"my-local-llama"})


def test_deepcopy_is_the_state_dict_form(make_client, client_cls):
    client = make_client()
    saved = copy.deepcopy(client)
    assert saved == {
        "class_type": client_cls.__name__,
        "provider": "openai",
        "usage": INITIAL_USAGE,
    }


def test_config_and_repr_never_hold_the_key(make_client):
    client = make_client(default_headers={"Authorization": f"Bearer {SECRET}", "X-Team": "a"})
    config = client.get_config()
    assert SECRET not in repr(config)
    assert config["default_headers"] == {"Authorization": "***", "X-Team": "a"}
    assert "base_url" in config and config["max_concurrency"] == 32
    assert SECRET not in repr(client)
    with pytest.raises(TypeError, match="cannot be pickled"):
        afnio.save(client, io.BytesIO())


def test_non_json_config_is_rejected(local_server, client_cls):
    with pytest.raises(TypeError, match="default_query"):
        client_cls(base_url=local_server.base_url, api_key="k", default_query={"x": object()})


def test_missing_api_key_raises_the_sdk_error(monkeypatch, client_cls):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    with pytest.raises(openai.OpenAIError):
        client_cls()


def test_environment_configures_the_client(openai_env, client_cls):
    openai_env.script.when(user="ping").reply("pong from env")
    client = client_cls()
    assert client.chat(messages=PING, model="gpt-4o") == "pong from env"
    assert client.base_url.startswith(openai_env.base_url.rstrip("/"))


def test_n_greater_than_one_is_refused(make_client):
    client = make_client()
    with pytest.raises(ValueError, match="n > 1"):
        client.chat(messages=PING, model="gpt-4o", n=2)
    with pytest.raises(ValueError, match="stream"):
        client.chat(messages=PING, model="gpt-4o", stream=True)


def test_completion_args_reach_the_server(local_server, make_client):
    client = make_client()
    fmt = {"type": "json_object"}
    client.chat(messages=PING, model="gpt-4o", temperature=0.3, seed=7, response_format=fmt)
    body = local_server.requests[-1].body
    assert body["temperature"] == 0.3 and body["seed"] == 7
    assert body["response_format"] == fmt
    record = client.calls[-1]
    assert record.completion_args == {"temperature": 0.3, "seed": 7, "response_format": fmt}


@pytest.mark.parametrize("kind", ["429", "500", "503", "timeout", "disconnect"])
def test_transient_errors_are_retried(local_server, make_client, kind):
    local_server.script.when(user="ping").reply("pong")
    local_server.faults = Faults(timeout_seconds=2.0)
    client = make_client(timeout=0.5)
    local_server.inject(kind, times=2)
    assert client.chat(messages=PING, model="gpt-4o") == "pong"
    assert len(local_server.requests) == 3
    record = client.calls[-1]
    assert record.retries == 2 and record.error is None
    assert record.response == "pong"


def test_retry_after_header_is_honoured():
    response = openai.RateLimitError.__new__(openai.RateLimitError)

    class FakeResponse:
        headers = {"retry-after": "1.5"}

    response.response = FakeResponse()  # type: ignore[assignment]
    policy = RetryPolicy(max_retries=3, base_delay=10.0, max_delay=30.0, seed=1)
    assert policy.delay(0, response) == 1.5
    FakeResponse.headers = {"retry-after-ms": "250", "retry-after": "9"}
    assert policy.delay(0, response) == 0.25
    FakeResponse.headers = {"retry-after": "100"}
    assert policy.delay(0, response) == 30.0  # capped


def test_retry_after_is_waited_for(local_server, make_client):
    local_server.script.when(user="ping").reply("pong")
    local_server.faults = Faults(retry_after=0.3)
    client = make_client(retry_base_delay=0.0, retry_max_delay=5.0)
    local_server.inject("429")
    client.chat(messages=PING, model="gpt-4o")
    first, second = local_server.requests
    assert first.status == 429 and second.status == 200
    assert first.end is not None and second.start - first.end >= 0.3  # a lower bound only


def test_backoff_has_seeded_full_jitter():
    a = RetryPolicy(max_retries=5, base_delay=0.5, max_delay=4.0, seed=3)
    b = RetryPolicy(max_retries=5, base_delay=0.5, max_delay=4.0, seed=3)
    delays = [a.delay(k) for k in range(6)]
    assert delays == [b.delay(k) for k in range(6)]
    for k, delay in enumerate(delays):
        assert 0.0 <= delay <= min(4.0, 0.5 * 2**k)


def test_exhausted_retries_raise_model_call_error(local_server, make_client):
    local_server.inject("500", times=10)
    client = make_client(max_retries=2)
    x = afnio.Variable("ping", role="query", requires_grad=True)
    with pytest.raises(ModelCallError) as info:
        afnio.functional.chat_completion(client, [{"role": "user", "content": [x]}], model="gpt-4o")
    error = info.value
    message = str(error)
    assert "openai" in message and "'gpt-4o'" in message
    assert message.startswith("ChatCompletion forward: openai model 'gpt-4o' at http://")
    assert "3 attempts" in message and "HTTP 500, server error" in message
    assert error.attempts == 3 and error.status_code == 500
    assert error.error_type == "InternalServerError" and error.__cause__ is None
    assert len(local_server.requests) == 3
    failed = client.calls[-1]
    assert failed.error is not None and failed.retries == 2 and failed.response is None


@pytest.mark.parametrize("status", [400, 401, 403, 404])
def test_client_errors_are_not_retried(local_server, make_client, status):
    local_server.script.when(user="ping").reply(Reply("nope", status=status))
    client = make_client()
    with pytest.raises(ModelCallError, match="1 attempt") as info:
        client.chat(messages=PING, model="gpt-4o")
    assert info.value.status_code == status
    assert len(local_server.requests) == 1
    assert client.calls[-1].retries == 0


def test_concurrency_limit_is_per_client(local_server, make_client):
    local_server.latency = 0.1
    client = make_client(max_concurrency=3)

    async def many():
        return await asyncio.gather(
            *(
                client.achat(messages=[{"role": "user", "content": f"q{i}"}], model="gpt-4o")
                for i in range(9)
            )
        )

    from afnio._runtime import run_sync

    replies = run_sync(many())
    assert replies == [f"[scripted] q{i}" for i in range(9)]
    assert local_server.max_in_flight == 3


def test_achat_from_another_event_loop(local_server, make_client):
    local_server.script.when(user="ping").reply("pong")
    client = make_client()

    async def main():
        return await client.achat(messages=PING, model="gpt-4o")

    assert asyncio.run(main()) == "pong"


def test_records_are_complete_and_serialisable(local_server, make_client):
    local_server.script.when(user="ping").reply("pong")
    client = make_client()
    client.chat(messages=PING, model="gpt-4o", temperature=0)
    record = client.calls[-1]
    assert isinstance(record, ModelCall)
    assert record.phase is None and record.node is None
    assert record.messages == PING and record.response == "pong"
    assert record.latency > 0 and record.started_at > 0 and not record.cache_hit
    data = record.to_dict()
    assert set(data) >= {
        "id", "phase", "node", "provider", "model", "messages", "completion_args", "response",
        "parsed", "usage", "cost", "latency", "retries", "cache_hit", "error", "started_at",
    }  # fmt: skip


def test_no_api_key_in_records_reprs_logs_or_saved_files(
    local_server, make_client, caplog, tmp_path
):
    local_server.script.when(user="ping").reply("pong")
    local_server.script.when(user="fail").reply(Reply(f"bad key {SECRET}", status=401))
    client = make_client()
    caplog.set_level(logging.DEBUG)
    client.chat(messages=PING, model="gpt-4o", extra_headers={"Authorization": f"Bearer {SECRET}"})
    local_server.inject("429")
    client.chat(messages=PING, model="gpt-4o", seed=1)
    with pytest.raises(ModelCallError) as info:
        client.chat(messages=[{"role": "user", "content": "fail"}], model="gpt-4o")
    assert SECRET not in str(info.value)
    records = list(client.calls)
    assert len(records) == 3
    path = tmp_path / "records.hf"
    afnio.save(records, path)
    afnio.save([r.to_dict() for r in records], tmp_path / "dicts.hf")
    for blob in (path.read_bytes(), (tmp_path / "dicts.hf").read_bytes()):
        assert SECRET.encode() not in blob
    assert all(SECRET not in repr(r) and SECRET not in str(r.to_dict()) for r in records)
    assert SECRET not in caplog.text
    assert SECRET not in repr(client.get_config()) and SECRET not in repr(client)
    loaded = afnio.load(path, weights_only=False)
    assert [r.response for r in loaded] == ["pong", "pong", None]


def test_sync_client_uses_worker_threads(local_server):
    # Each reply waits until all 8 requests are in the server at once: only a client that sends
    # them concurrently can finish (a sequential one would break the barrier after 20 s).
    barrier = threading.Barrier(8, timeout=20)

    def together(request):
        barrier.wait()
        return "ok"

    local_server.script.when(user="^q").reply(together)
    client = OpenAI(base_url=local_server.base_url, api_key="k", max_concurrency=8)

    async def many():
        return await asyncio.gather(
            *(
                client.achat(messages=[{"role": "user", "content": f"q{i}"}], model="gpt-4o")
                for i in range(8)
            )
        )

    from afnio._runtime import run_sync

    run_sync(many())
    assert local_server.max_in_flight == 8


def test_bad_constructor_arguments(local_server):
    with pytest.raises(ValueError, match="max_concurrency"):
        AsyncOpenAI(base_url=local_server.base_url, api_key="k", max_concurrency=0)
    with pytest.raises(TypeError, match="cache"):
        AsyncOpenAI(base_url=local_server.base_url, api_key="k", cache=42)
    with pytest.raises(ValueError, match="max_retries"):
        AsyncOpenAI(base_url=local_server.base_url, api_key="k", max_retries=-1)
