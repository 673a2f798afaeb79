"""Pytest fixtures for tests that talk to a local OpenAI-compatible server.

Enable them in a ``conftest.py``::

    pytest_plugins = ["afnio.testing.pytest_plugin"]

Example:
    .. code-block:: python

        def test_answer(local_server, openai_env):
            local_server.script.when(user="ping").reply("pong")
            client = openai.OpenAI()  # reads OPENAI_API_KEY and OPENAI_BASE_URL
            reply = client.chat.completions.create(
                model="gpt-4o", messages=[{"role": "user", "content": "ping"}]
            )
            assert reply.choices[0].message.content == "pong"
            assert len(local_server.requests) == 1
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from afnio.testing.script import ScriptedModel
from afnio.testing.server import LocalServer

__all__ = ["local_server", "openai_env"]


@pytest.fixture
def local_server() -> Iterator[LocalServer]:
    """A running :class:`LocalServer` with an empty :class:`ScriptedModel`, stopped afterwards.

    Configure it through ``local_server.script`` (rules), ``local_server.latency``,
    ``local_server.faults`` and ``local_server.inject(...)``.
    """
    with LocalServer(ScriptedModel()) as server:
        yield server


@pytest.fixture
def openai_env(local_server: LocalServer, monkeypatch: pytest.MonkeyPatch) -> LocalServer:
    """Point ``OPENAI_BASE_URL`` and ``OPENAI_API_KEY`` at :func:`local_server` for this test.

    Returns:
        The running server.
    """
    monkeypatch.setenv("OPENAI_API_KEY", local_server.api_key)
    monkeypatch.setenv("OPENAI_BASE_URL", local_server.base_url)
    for name in ("OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    return local_server
