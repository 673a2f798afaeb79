"""Kernel-side widget tests with a dummy comm: no browser, no kernel.

Widgets open their comm through ``comm.create_comm``; the fixture swaps it for a recorder, so a
test can read every message a widget sent and feed it messages as the front-end would.
"""

from __future__ import annotations

import itertools
import json
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
        self.opened: dict[str, Any] = dict((kwargs.get("data") or {}).get("state") or {})
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
        """The custom messages sent (answers to requests)."""
        return [
            m["content"] for m in self.sent if isinstance(m, dict) and m.get("method") == "custom"
        ]

    def updates(self, name: str) -> list[Any]:
        """Every value of trait ``name`` sent to the front-end, the one it was opened with
        first: what a front-end (or a notebook saving widget state) receives."""
        values = [self.opened[name]] if name in self.opened else []
        for m in self.sent:
            if isinstance(m, dict) and m.get("method") == "update" and name in m["state"]:
                values.append(m["state"][name])
        return values

    def graphs(self) -> list[dict[str, Any]]:
        """Every graph a GraphView published (its ``graph_json`` trait), parsed."""
        return [json.loads(text) for text in self.updates("graph_json")]

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


@pytest.fixture
def comm_of() -> Any:
    """``comm_of(widget)``: the widget's :class:`DummyComm`."""
    return _comm_of


@pytest.fixture
def backward_client(openai_env: Any) -> Iterator[Any]:
    """afnio's backward model client, pointed at the local server; forgotten after the test."""
    import afnio
    from afnio._model_client import ModelClientSingleton

    options = {"base_url": openai_env.base_url, "api_key": openai_env.api_key}
    afnio.set_backward_model_client("openai/gpt-4o-mini", client_args=options)
    yield afnio.get_backward_model_client()
    ModelClientSingleton._instance = None
