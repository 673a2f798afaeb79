"""Kernel-side widget tests with a dummy comm: no browser, no kernel.

Widgets open their comm through ``comm.create_comm``; the fixture swaps it for a recorder, so a
test can read every message a widget sent and feed it messages as the front-end would.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from typing import Any

import comm
import pytest

_ids = itertools.count()


class DummyComm:
    """Records what a widget sends; ``receive`` plays a front-end message."""

    kernel = "dummy"

    def __init__(self, **kwargs: Any) -> None:
        self.comm_id = f"dummy-{next(_ids)}"
        self.sent: list[dict[str, Any]] = []
        self._handler: Any = None

    def open(self, *args: Any, **kwargs: Any) -> None:
        pass

    def send(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        self.sent.append(data)

    def on_msg(self, handler: Any) -> None:
        self._handler = handler

    def close(self, *args: Any, **kwargs: Any) -> None:
        pass

    def on_close(self, *args: Any, **kwargs: Any) -> None:
        pass

    # -- helpers for tests ------------------------------------------------------------------------
    def custom(self) -> list[dict[str, Any]]:
        """The custom messages sent (patches, snapshots, details)."""
        return [
            m["content"] for m in self.sent if isinstance(m, dict) and m.get("method") == "custom"
        ]

    def receive(self, content: dict[str, Any]) -> None:
        """Delivers a custom message from the front-end."""
        self._handler(
            {"content": {"data": {"method": "custom", "content": content}}, "buffers": []}
        )

    def update(self, state: dict[str, Any]) -> None:
        """Delivers a trait change made in the front-end."""
        self._handler(
            {
                "content": {"data": {"method": "update", "state": state, "buffer_paths": []}},
                "buffers": [],
            }
        )


@pytest.fixture(autouse=True)
def dummy_comm(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[DummyComm]]:
    """Every widget created in the test gets a :class:`DummyComm`; the list holds them all."""
    created: list[DummyComm] = []

    def create_comm(**kwargs: Any) -> DummyComm:
        c = DummyComm(**kwargs)
        created.append(c)
        return c

    monkeypatch.setattr(comm, "create_comm", create_comm)
    monkeypatch.setattr(comm, "get_comm_manager", lambda: None)
    monkeypatch.setenv("AFNIO_WIDGETS_INTERVAL", "0.05")
    yield created


def _comm_of(widget: Any) -> DummyComm:
    """The dummy comm of a widget."""
    assert isinstance(widget.comm, DummyComm)
    return widget.comm


def _apply_messages(messages: list[dict[str, Any]]) -> dict[str, Any]:
    """Replays snapshot and patch messages the way js/store.js does; returns the graph."""
    nodes: dict[str, dict[str, Any]] = {}
    edges: dict[str, dict[str, Any]] = {}
    rev = 0
    for msg in messages:
        if msg["type"] == "snapshot":
            nodes = {n["id"]: dict(n) for n in msg["graph"]["nodes"]}
            edges = {e["id"]: dict(e) for e in msg["graph"]["edges"]}
            rev = msg["rev"]
        elif msg["type"] == "patch":
            assert msg["base"] == rev, "a patch was skipped or sent twice"
            for item in msg["nodes"]:
                nodes.setdefault(item["id"], {}).update(item)
            for item in msg["edges"]:
                edges.setdefault(item["id"], {}).update(item)
            rev = msg["rev"]
    return {"nodes": nodes, "edges": edges, "rev": rev}


@pytest.fixture
def comm_of() -> Any:
    """``comm_of(widget)``: the widget's :class:`DummyComm`."""
    return _comm_of


@pytest.fixture
def apply_messages() -> Any:
    """``apply_messages(messages)``: replays snapshots and patches as the front-end does."""
    return _apply_messages


@pytest.fixture
def backward_client(openai_env: Any) -> Iterator[Any]:
    """afnio's backward model client, pointed at the local server; forgotten after the test."""
    import afnio
    from afnio._model_client import ModelClientSingleton

    options = {"base_url": openai_env.base_url, "api_key": openai_env.api_key}
    afnio.set_backward_model_client("openai/gpt-4o-mini", client_args=options)
    yield afnio.get_backward_model_client()
    ModelClientSingleton._instance = None
