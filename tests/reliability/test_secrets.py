"""Secrets: with a distinctive fake API key, forward, backward, a TGD step, a Trainer fit with
checkpoints, widgets and DEBUG logging leave the key in no artefact.

Artefacts searched: model-call records (``to_dict`` and repr), reprs and configs of clients,
modules and optimizers, error messages, captured log records at DEBUG (every logger), every file
under the run's folder as raw bytes (checkpoints also unzipped), the response cache, the metrics
log, state dicts as pickled, and the widgets' JSON, state and comm messages.
"""

from __future__ import annotations

import copy
import io
import json
import logging
import pickle
import traceback
import zipfile
from pathlib import Path
from typing import Any

import comm
import pytest
from sentiment_agent import (
    MODEL,
    SentimentAgent,
    install,
    make_clients,
    make_loaders,
    make_trainer,
)

import afnio
import afnio.cognitive.functional as F
from afnio import Variable
from afnio.models import ModelCallError, ResponseCache
from afnio.models.openai import AsyncOpenAI, OpenAI
from afnio.testing import LocalServer, Reply, ScriptedModel

SECTION = "secrets"
KEY = "sk-afnio-CANARY-5f0b2c7e9d41a6-do-not-leak"
# Parts distinctive enough to catch a key that was cut or partly masked.
NEEDLES = (KEY, "5f0b2c7e9d41a6", "CANARY-5f0b")


class RecordingComm:
    """Stands in for a Jupyter comm: keeps every message a widget sends."""

    kernel = "recording"

    def __init__(self, **kwargs: Any) -> None:
        self.comm_id = f"recording-{id(self)}"
        self.sent: list[Any] = [kwargs.get("data")]
        self.handler: Any = None

    def open(self, *args: Any, **kwargs: Any) -> None:
        pass

    def send(self, data: Any = None, metadata: Any = None, buffers: Any = None) -> None:
        self.sent.append(data)

    def on_msg(self, handler: Any) -> None:
        self.handler = handler

    def on_close(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self, *args: Any, **kwargs: Any) -> None:
        pass

    def receive(self, content: dict[str, Any]) -> None:
        """A custom message from the front-end (e.g. asking for a node's details)."""
        self.handler({"content": {"data": {"method": "custom", "content": content}}})


class Artefacts:
    """Everything the run produced that a user could see, save or share."""

    def __init__(self) -> None:
        self.items: list[tuple[str, bytes]] = []

    def add(self, name: str, value: Any) -> None:
        if isinstance(value, bytes):
            data = value
        elif isinstance(value, str):
            data = value.encode("utf-8", "surrogatepass")
        else:
            data = json.dumps(value, default=repr, ensure_ascii=False).encode("utf-8")
        self.items.append((name, data))

    def add_file(self, path: Path, root: Path) -> None:
        raw = path.read_bytes()
        self.add(f"file {path.relative_to(root)}", raw)
        if zipfile.is_zipfile(io.BytesIO(raw)):
            with zipfile.ZipFile(io.BytesIO(raw)) as archive:
                for member in archive.namelist():
                    self.add(f"file {path.relative_to(root)}:{member}", archive.read(member))

    def leaks(self) -> list[str]:
        found = []
        for name, data in self.items:
            for needle in NEEDLES:
                for form in (needle.encode(), needle.encode("utf-16-le")):
                    if form in data:
                        found.append(f"{name} contains {needle!r}")
        return found


@pytest.fixture
def widgets_comm(monkeypatch):
    created: list[RecordingComm] = []

    def create_comm(**kwargs: Any) -> RecordingComm:
        created.append(RecordingComm(**kwargs))
        return created[-1]

    monkeypatch.setattr(comm, "create_comm", create_comm)
    monkeypatch.setattr(comm, "get_comm_manager", lambda: None)
    monkeypatch.setenv("AFNIO_WIDGETS_INTERVAL", "0.01")
    return created


def _records(*sources: Any) -> list[Any]:
    calls: list[Any] = []
    for source in sources:
        calls.extend(getattr(source, "calls", ()) or ())
    return calls


def test_the_api_key_never_leaks(
    tmp_path, monkeypatch, caplog, widgets_comm, figures, forget_backward_client
):
    import afnio_widgets

    caplog.set_level(logging.DEBUG)  # every logger: afnio, the openai SDK, httpx, httpcore
    script = ScriptedModel()
    # A server that echoes the key back in an error (some proxies do) must not make it leak.
    script.when(user="echo the key").reply(Reply(f"Invalid API key {KEY}.", status=401))
    script.when(user="always down").reply(Reply(f"Overloaded ({KEY}).", status=500))
    install(script)
    artefacts = Artefacts()
    with LocalServer(script) as server:
        monkeypatch.setenv("OPENAI_API_KEY", KEY)
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        for name in ("OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
            monkeypatch.delenv(name, raising=False)
        cache = ResponseCache(tmp_path / "cache" / "responses.sqlite")
        forward_model, optimizer_model, clients = make_clients(
            server.base_url, KEY, cache=cache, max_retries=1
        )
        from_env = OpenAI()  # the key from OPENAI_API_KEY
        assert from_env._client.api_key == KEY

        # Forward, backward and a TGD step by hand, with a GraphView watching.
        agent = SentimentAgent(forward_model, optimizer_model)
        reviews = ["Oh perfect, it broke after one day.", "Comfortable and quiet."]
        view = afnio_widgets.GraphView(live=True)
        prediction = agent(reviews)
        score, explanation = F.exact_match_evaluator(prediction, ["negative", "positive"])
        optimizer = agent.configure_optimizers()
        explanation.backward()
        optimizer.step()
        view.stop_tracing()
        snapshot = afnio_widgets.GraphView(explanation)
        for widget in (view, snapshot):
            widget.flush()
            widget.comm.receive({"type": "ping"})
            for node in widget.graph["nodes"]:
                widget.comm.receive({"type": "details", "id": node["id"]})
            artefacts.add("GraphView.to_json", widget.to_json())
            artefacts.add("GraphView state", widget.get_state())
        (tmp_path / "graph.json").write_text(afnio_widgets.to_json(explanation), encoding="utf-8")

        # Errors: a server echoing the key (401) and a model that stays down (500).
        errors: list[BaseException] = []
        for question in ("echo the key", "always down"):
            for client in (forward_model, from_env):
                with pytest.raises(ModelCallError) as info:
                    client.chat(messages=[{"role": "user", "content": question}], model=MODEL)
                errors.append(info.value)

        # A Trainer fit with checkpoints, metrics and a TrainingView.
        training = afnio_widgets.TrainingView(clients=clients)
        trainer = make_trainer(tmp_path / "run", callbacks=[training], max_epochs=1)
        fresh = SentimentAgent(forward_model, optimizer_model)
        train, val = make_loaders()
        result = trainer.fit(fresh, train, val, llm_clients=clients)
        training.flush()
        artefacts.add("TrainingView state", training.get_state())
        artefacts.add("TrainingView data", training.data)
        artefacts.add("fit result", result)
        view.close()
        snapshot.close()
        training.close()

    # Records of every call, from every place that keeps them.
    nodes = [prediction.grad_fn, explanation.grad_fn]
    records = _records(forward_model, optimizer_model, from_env, clients[1], optimizer, *nodes)
    records += [e.record for e in errors if isinstance(e, ModelCallError) and e.record]
    assert len(records) > 10
    for record in records:
        artefacts.add(f"record {record.id} to_dict", record.to_dict())
        artefacts.add(f"record {record.id} repr", repr(record))
    # Errors, as raised and as a traceback shows them.
    for error in errors:
        artefacts.add("error str", str(error))
        artefacts.add("error repr", repr(error))
    # Reprs, configs and state.
    for obj in (forward_model, optimizer_model, from_env, clients[1], agent, optimizer, cache):
        artefacts.add(f"repr {type(obj).__name__}", repr(obj))
        artefacts.add(f"str {type(obj).__name__}", str(obj))
    for client in (forward_model, optimizer_model, from_env):
        artefacts.add("config", client.get_config())
        artefacts.add("deepcopy", copy.deepcopy(client))
        artefacts.add("usage", client.get_usage())
    artefacts.add("agent state dict", pickle.dumps(agent.state_dict()))
    artefacts.add("optimizer state dict", pickle.dumps(optimizer.state_dict()))
    buffer = io.BytesIO()
    afnio.save({"agent": agent.state_dict(), "optimizer": optimizer.state_dict()}, buffer)
    artefacts.add("afnio.save of the state dicts", buffer.getvalue())
    # Logs at DEBUG, as formatted and as raw arguments.
    for record in caplog.records:
        artefacts.add(f"log {record.name}", record.getMessage())
        artefacts.add(f"log args {record.name}", repr(record.args))
    # Widget messages.
    for created in widgets_comm:
        artefacts.add("widget messages", created.sent)
    # Every file the run wrote: checkpoints, metrics, cache, graph JSON.
    cache.close()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    for path in files:
        artefacts.add_file(path, tmp_path)

    assert any(p.suffix == ".hf" for p in files) and any(p.name == "metrics.jsonl" for p in files)
    assert any("responses.sqlite" in p.name for p in files)
    assert {"afnio.models", "openai._base_client"} <= {r.name for r in caplog.records}
    assert artefacts.leaks() == []
    # The key did reach the server, so the search above looked at a key that was really used.
    assert server.requests[0].headers["authorization"] == f"Bearer {KEY}"
    figures.put(SECTION, "artefacts_searched", len(artefacts.items))
    figures.put(SECTION, "files_searched", len(files))
    figures.put(SECTION, "records_searched", len(records))
    figures.put(SECTION, "log_records_searched", len(caplog.records))
    figures.put(SECTION, "leaks", len(artefacts.leaks()))


def test_a_traceback_of_a_failed_call_holds_no_key(forget_backward_client):
    script = ScriptedModel()
    script.when().reply(Reply(f"Invalid API key {KEY}.", status=401))
    with LocalServer(script) as server:
        client = AsyncOpenAI(base_url=server.base_url, api_key=KEY, max_retries=0)
        with pytest.raises(ModelCallError) as info:
            client.chat(messages=[{"role": "user", "content": "hi"}], model=MODEL)
    shown = "".join(traceback.format_exception(info.value))
    assert all(needle not in shown for needle in NEEDLES)


def test_pickling_a_client_is_refused():
    client = AsyncOpenAI(base_url="http://127.0.0.1:9/v1", api_key=KEY)
    with pytest.raises(TypeError, match="credentials"):
        pickle.dumps(client)
    with pytest.raises(TypeError, match="credentials"):
        afnio.save({"client": client}, io.BytesIO())
    assert all(needle not in repr(client) for needle in NEEDLES)


def test_a_variable_holding_the_key_is_the_users_own_data():
    # The search is not vacuous: a key the user puts in data is saved like any data.
    buffer = io.BytesIO()
    afnio.save(Variable(KEY), buffer)
    artefacts = Artefacts()
    artefacts.add("file", buffer.getvalue())
    with zipfile.ZipFile(io.BytesIO(buffer.getvalue())) as archive:
        artefacts.add("data.pkl", archive.read("data.pkl"))
    assert artefacts.leaks()
