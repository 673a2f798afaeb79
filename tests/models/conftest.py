"""Fixtures for the model-layer tests: a local server and clients pointed at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from afnio._model_client import ModelClientSingleton
from afnio.models import AsyncOpenAI, OpenAI
from afnio.testing import LocalServer
from afnio.testing.pytest_plugin import local_server, openai_env

__all__ = ["local_server", "openai_env"]

SECRET = "sk-afnio-test-SECRET-0123456789"


@pytest.fixture
def secret() -> str:
    """The API key every client of these tests uses; it must never leak."""
    return SECRET


@pytest.fixture(params=[AsyncOpenAI, OpenAI], ids=["async", "sync"])
def client_cls(request: pytest.FixtureRequest) -> type:
    return request.param


@pytest.fixture
def make_client(local_server: LocalServer, client_cls: type) -> Callable[..., Any]:
    """``make_client(**kwargs)``: a client of the parametrised class for the test server, with
    fast, seeded retries."""

    def make(**kwargs: Any) -> Any:
        args = {
            "base_url": local_server.base_url,
            "api_key": SECRET,
            "retry_base_delay": 0.01,
            "retry_max_delay": 0.05,
            "retry_seed": 0,
        }
        args.update(kwargs)
        return client_cls(**args)

    return make


@pytest.fixture
def backward_client(local_server: LocalServer) -> Iterator[ModelClientSingleton]:
    """The backward model client, pointed at the test server; forgotten after the test."""
    from afnio import get_backward_model_client, set_backward_model_client

    set_backward_model_client(
        "openai/gpt-4o-mini",
        client_args={
            "base_url": local_server.base_url,
            "api_key": SECRET,
            "retry_base_delay": 0.01,
            "retry_seed": 0,
        },
    )
    yield get_backward_model_client()
    ModelClientSingleton._instance = None
