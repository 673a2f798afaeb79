"""A client's connections: ``close()``, ``with`` blocks, and clients that are simply dropped."""

from __future__ import annotations

import asyncio
import gc
import time
import warnings
import weakref
from typing import Any

import openai
import pytest

from afnio._runtime import run_sync
from afnio.models import AsyncOpenAI, OpenAI

PING = [{"role": "user", "content": "ping"}]


def _wait_until(condition: Any, what: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting until {what}")
        time.sleep(0.01)


def test_close_releases_the_connections_and_refuses_later_calls(make_client, client_cls):
    client = make_client()
    client.chat(messages=PING, model="gpt-4o")
    assert not client.closed
    client.close()
    assert client.closed and client._client.is_closed()
    with pytest.raises(RuntimeError, match=f"This {client_cls.__name__} client is closed"):
        client.chat(messages=PING, model="gpt-4o")
    client.close()  # closing twice does nothing


def test_a_with_block_closes_the_client(make_client):
    with make_client() as client:
        assert client.chat(messages=PING, model="gpt-4o")
    assert client.closed and client._client.is_closed()


def test_aclose_works_from_any_event_loop(make_client):
    client = make_client()
    client.chat(messages=PING, model="gpt-4o")
    asyncio.run(client.aclose())
    assert client.closed and client._client.is_closed()


def test_closing_a_sync_client_stops_its_worker_threads(local_server, secret):
    client = OpenAI(base_url=local_server.base_url, api_key=secret)
    client.chat(messages=PING, model="gpt-4o")
    executor = client._resources.executor
    assert executor is not None
    client.close()
    assert executor._shutdown


def test_a_dropped_async_client_is_closed_on_afnios_loop_while_its_sockets_are_open(
    local_server, secret
):
    # The dangerous case: an unreachable client collected by the cycle collector on afnio's loop
    # thread. Left to the SDK, the collector closes the sockets of its transports ("unclosed
    # transport") and the SDK's __del__ schedules aclose() on the loop, which then unregisters
    # file descriptors that newer connections may already reuse.
    client = AsyncOpenAI(base_url=local_server.base_url, api_key=secret, max_concurrency=8)

    async def burst(target: AsyncOpenAI, n: int) -> list[str]:
        calls = [
            target.achat(messages=[{"role": "user", "content": f"q{i}"}], model="gpt-4o")
            for i in range(n)
        ]
        return list(await asyncio.gather(*calls))

    local_server.latency = 0.02  # so that the burst holds several connections at once
    assert len(run_sync(burst(client, 8))) == 8
    sdk = weakref.ref(client._client)
    client.myself = client  # only the cycle collector can free it now
    del client

    async def collect_on_the_loop() -> list[str]:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always", ResourceWarning)
            gc.collect()
        return [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)]

    assert run_sync(collect_on_the_loop()) == []

    def closed() -> bool:
        alive = sdk()
        return alive is None or alive.is_closed()

    _wait_until(closed, "the dropped client's SDK client is closed")

    # Connections opened after the collection work as usual.
    fresh = AsyncOpenAI(base_url=local_server.base_url, api_key=secret, timeout=20.0)
    assert len(run_sync(burst(fresh, 8))) == 8
    fresh.close()


def test_a_dropped_sync_client_stops_its_worker_threads(local_server, secret):
    client = OpenAI(base_url=local_server.base_url, api_key=secret)
    client.chat(messages=PING, model="gpt-4o")
    executor, sdk = client._resources.executor, client._client
    del client
    gc.collect()
    assert executor is not None and executor._shutdown and sdk.is_closed()


def test_a_callers_own_http_client_is_not_closed_when_the_client_is_dropped(local_server, secret):
    http_client = openai.DefaultAsyncHttpxClient()
    client = AsyncOpenAI(base_url=local_server.base_url, api_key=secret, http_client=http_client)
    client.chat(messages=PING, model="gpt-4o")
    del client
    gc.collect()
    time.sleep(0.1)
    assert not http_client.is_closed
    run_sync(http_client.aclose())
