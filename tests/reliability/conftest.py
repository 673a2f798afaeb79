"""Fixtures of the reliability suite: the session's figures, and a backward model client that
is forgotten after each test."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from reliability_figures import Figures

from afnio._model_client import ModelClientSingleton


@pytest.fixture(scope="session")
def figures() -> Iterator[Figures]:
    """What the tests did, written to ``test-artifacts/reliability.json`` at the end."""
    collected = Figures()
    yield collected
    collected.flush()


@pytest.fixture
def forget_backward_client() -> Iterator[None]:
    """Drops the process-wide backward model client after the test."""
    yield
    ModelClientSingleton._instance = None
