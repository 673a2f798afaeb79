"""Fixtures for the tests of afnio.testing."""

from __future__ import annotations

import importlib.util
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import openai
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
if importlib.util.find_spec("afnio") is None:  # running from a checkout without installing afnio
    sys.path.insert(0, str(REPO_ROOT))

from afnio.testing import LocalServer  # noqa: E402

pytest_plugins = ["afnio.testing.pytest_plugin"]


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
