"""Crash safety: a training process killed with SIGKILL in the middle of an epoch leaves no
corrupt file, and ``fit(ckpt_path="last")`` finishes with the result of an uninterrupted run.

The run is a child process (``sentiment_agent.py``) training against a server in this process.
It is killed at exact points, without sleeps: while the server holds one of its model calls (the
server tells us when it has it), or while it writes a checkpoint (the child stops itself there
and says so in a file). Progress is read from its metrics log and checkpoints.
"""

from __future__ import annotations

import io
import json
import os
import subprocess
import sys
import threading
import time
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import sentiment_agent
from sentiment_agent import (
    TRAIN,
    SentimentAgent,
    answer,
    install,
    make_clients,
    make_loaders,
    make_trainer,
    outcome,
    phase_of,
    review_of,
)

import afnio
from afnio._model_client import ModelClientSingleton
from afnio.testing import LocalServer, ScriptedModel
from afnio.trainer._checkpoint import find_last_checkpoint, read_checkpoint

SECTION = "crash_safety"
SCRIPT = Path(sentiment_agent.__file__)
DEADLINE = 120.0  # seconds a child may take to reach its kill point before the test fails


@dataclass(frozen=True)
class KillPoint:
    """Where to kill: during the ``nth`` request of a kind, or inside the ``nth`` checkpoint."""

    kind: str  # "train_forward", "evaluator_backward", "val_forward" or "checkpoint"
    nth: int
    finished: int  # training batches finished (and checkpointed) when the kill lands
    epochs: int = 0  # epochs finished (validated and checkpointed) when the kill lands


KILL_POINTS = {
    "evaluator backward call of batch 3": KillPoint("evaluator_backward", 3, finished=2),
    "forward call of epoch 2, batch 2": KillPoint("train_forward", 15, finished=7, epochs=1),
    "validation after epoch 1": KillPoint("val_forward", 1, finished=6),
    "checkpoint write of batch 5": KillPoint("checkpoint", 5, finished=4),
}


class Gate:
    """Holds the ``nth`` request of one kind until released; says when it holds it."""

    def __init__(self, point: KillPoint) -> None:
        self.point = point
        self.count = 0
        self.lock = threading.Lock()
        self.holding = threading.Event()
        self.release = threading.Event()

    def _kind(self, request: Any) -> str:
        phase = phase_of(request)
        if phase == "forward":
            return "train_forward" if review_of(request) in dict(TRAIN) else "val_forward"
        return phase

    def __call__(self, request: Any) -> Any:
        with self.lock:
            if self._kind(request) == self.point.kind:
                self.count += 1
                hold = self.count == self.point.nth
            else:
                hold = False
        if hold:
            self.holding.set()
            self.release.wait(DEADLINE)
        return answer(request)


def _wait_for(condition: Any, process: subprocess.Popen, what: str) -> None:
    deadline = time.monotonic() + DEADLINE
    while not condition():
        if process.poll() is not None:
            pytest.fail(f"the child exited ({process.returncode}) before {what}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"the child did not reach {what} within {DEADLINE} s")
        time.sleep(0.01)


def _train_events(root: Path) -> list[dict[str, Any]]:
    path = root / "metrics.jsonl"
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def _kill_run(root: Path, point: KillPoint) -> dict[str, Any]:
    """Runs the child until ``point``, SIGKILLs it there, and reports what it left."""
    gate = Gate(point)
    script = ScriptedModel()
    script.when().reply(gate)
    ready = root.parent / f"{root.name}.paused"
    command = [sys.executable, str(SCRIPT), "--root", str(root)]
    if point.kind == "checkpoint":
        command += ["--pause-in-checkpoint", str(point.nth), "--ready", str(ready)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    with LocalServer(script) as server:
        command += ["--base-url", server.base_url, "--api-key", server.api_key]
        log = root.parent / f"{root.name}.log"
        with log.open("wb") as output:
            process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, env=env)
            try:
                if point.kind == "checkpoint":
                    _wait_for(ready.exists, process, "the checkpoint write")
                else:
                    _wait_for(gate.holding.is_set, process, f"{point.kind} #{point.nth}")
                # Progress as the files tell it, at the moment of the kill.
                batches = [e for e in _train_events(root) if e["event"] == "train_batch"]
                process.kill()  # SIGKILL
            finally:
                process.kill()
                process.wait()
                gate.release.set()
    assert process.returncode == -9, log.read_text()
    return {"logged_batches": len(batches)}


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, Any]:
    """The uninterrupted run of the same script, in this process."""
    root = tmp_path_factory.mktemp("uninterrupted")
    run = _resume_or_run(root, None)
    yield run
    ModelClientSingleton._instance = None


def _resume_or_run(root: Path, ckpt_path: str | None) -> dict[str, Any]:
    script = ScriptedModel()
    install(script)
    with LocalServer(script) as server:
        forward_model, optimizer_model, clients = make_clients(server.base_url, server.api_key)
        agent = SentimentAgent(forward_model, optimizer_model)
        train, val = make_loaders()
        result = make_trainer(root).fit(agent, train, val, ckpt_path=ckpt_path, llm_clients=clients)
    return {
        "outcome": outcome(result, agent),
        "seen": agent.seen,
        "total_cost": result["total_cost"],
        "events": _stripped(_train_events(root)),
    }


def _stripped(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in e.items() if k not in ("time", "total_cost", "cost")} for e in events]


@pytest.fixture(scope="module")
def crashes(tmp_path_factory, reference, figures) -> dict[str, dict[str, Any]]:
    """Every kill point: the run killed there, what it left, and its resumption."""
    results = {}
    for name, point in KILL_POINTS.items():
        root = tmp_path_factory.mktemp("killed")
        killed = _kill_run(root, point)
        left = {
            "hf_files": sorted(root.rglob("*.hf")),
            "temp_files": sorted(p for p in root.rglob("*") if p.name.startswith(".afnio-")),
            "events": _train_events(root),
        }
        last = find_last_checkpoint(str(root))
        left["last"] = read_checkpoint(last)
        resumed = _resume_or_run(root, "last")
        results[name] = {"point": point, "root": root, **killed, **left, "resumed": resumed}
        figures.add(SECTION, "runs_killed")
        figures.add(SECTION, "checkpoints_checked", len(left["hf_files"]))
    yield results
    ModelClientSingleton._instance = None


NAMES = list(KILL_POINTS)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_a_killed_run_leaves_no_corrupt_file(name, crashes):
    crash = crashes[name]
    point: KillPoint = crash["point"]
    # Progress, read from the files: the batches logged before the kill.
    expected_logged = point.finished + (1 if point.kind == "checkpoint" else 0)
    assert crash["logged_batches"] == expected_logged
    # One checkpoint per finished batch (and per finished epoch), every one loads safely.
    assert len(crash["hf_files"]) == point.finished + point.epochs
    for path in crash["hf_files"]:
        with zipfile.ZipFile(path) as archive:
            assert archive.testzip() is None and archive.namelist() == ["data.pkl"]
        checkpoint = read_checkpoint(str(path))
        assert afnio.load(io.BytesIO(path.read_bytes()))["version"] == checkpoint["version"]
    # The newest is the state after the last finished batch.
    last = crash["last"]
    assert last["trainer_state"]["global_step"] == point.finished
    # An interrupted checkpoint write leaves only its temporary file, never a broken .hf.
    if point.kind == "checkpoint":
        assert len(crash["temp_files"]) == 1
    else:
        assert crash["temp_files"] == []
    for event in crash["events"]:
        assert isinstance(event, dict)


def _position(seen: list[tuple[str, tuple[str, ...]]], finished: int) -> int:
    """Index in ``seen`` just after the ``finished``-th training step."""
    count = 0
    for i, (phase, _) in enumerate(seen):
        if count == finished:
            return i
        count += phase == "train"
    return len(seen)


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_resuming_a_killed_run_ends_like_the_uninterrupted_run(name, crashes, reference, figures):
    crash = crashes[name]
    resumed = crash["resumed"]
    assert resumed["outcome"] == reference["outcome"]
    # Exactly the samples not yet trained on, in the same order, once.
    start = _position(reference["seen"], crash["point"].finished)
    assert resumed["seen"] == reference["seen"][start:]
    assert resumed["total_cost"] == pytest.approx(reference["total_cost"])
    figures.add(SECTION, "runs_resumed_exactly")


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_metrics_log_after_resume_has_every_batch_once(name, crashes, reference):
    # The log of the killed run, continued by the resumed one, is the uninterrupted run's log.
    assert crashes[name]["resumed"]["events"] == reference["events"]
