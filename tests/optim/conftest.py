"""Fixtures for the optimizer tests: a client for the local server (see tests/conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from afnio.models.openai import AsyncOpenAI
from afnio.testing import LocalServer


@pytest.fixture
def optimizer_model(local_server: LocalServer) -> Iterator[AsyncOpenAI]:
    """An AsyncOpenAI client for the test's server, without retries."""
    yield AsyncOpenAI(base_url=local_server.base_url, api_key=local_server.api_key, max_retries=0)
