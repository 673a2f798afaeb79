"""Fixtures for the optimizer tests: the local server and a client for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from afnio.models.openai import AsyncOpenAI
from afnio.testing import LocalServer
from afnio.testing.pytest_plugin import local_server, openai_env

__all__ = ["local_server", "openai_env"]


@pytest.fixture
def optimizer_model(local_server: LocalServer) -> Iterator[AsyncOpenAI]:
    """An AsyncOpenAI client for the test's server, without retries."""
    yield AsyncOpenAI(base_url=local_server.base_url, api_key=local_server.api_key, max_retries=0)
