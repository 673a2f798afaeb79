"""Fixtures for the tests of afnio.testing."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator

import openai
import pytest

from afnio.testing import LocalServer


@pytest.fixture
def client(local_server: LocalServer) -> Iterator[openai.OpenAI]:
    """A synchronous OpenAI client for the test's server, without retries."""
    with openai.OpenAI(
        base_url=local_server.base_url, api_key=local_server.api_key, max_retries=0
    ) as sdk_client:
        yield sdk_client


def _wait_until(condition: Callable[[], bool], timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.01)


@pytest.fixture
def wait_until() -> Callable[..., None]:
    """``wait_until(condition, timeout=10.0)`` polls until ``condition()`` holds, or fails."""
    return _wait_until
