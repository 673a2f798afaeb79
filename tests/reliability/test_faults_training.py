"""Model faults during training: ``Trainer.fit`` of the sentiment agent against a server that
fails 20% of the attempts (429 with Retry-After, 500, timeouts, malformed and truncated JSON)
ends exactly where the fault-free run ends; when the retry budget runs out the error says who
failed and how often, and the last good checkpoint is intact and resumable."""

from __future__ import annotations

import collections
import json
from pathlib import Path
from typing import Any

import pytest
from sentiment_agent import (
    MODEL,
    BatchLog,
    SentimentAgent,
    install,
    make_clients,
    make_loaders,
    make_trainer,
    outcome,
    phase_of,
)

import afnio
from afnio.models.openai import AsyncOpenAI, OpenAI
from afnio.testing import ChatRequest, Faults, LocalServer, Reply, ScriptedModel
from afnio.trainer import Callback
from afnio.trainer._checkpoint import find_last_checkpoint, read_checkpoint

SECTION = "faults_training"
KINDS = ("429", "500", "timeout", "malformed_json", "truncated_json")
CLIENT_TIMEOUT = 0.5  # seconds per attempt; a "timeout" fault holds the answer much longer


def _faults(seed: int) -> Faults:
    # max_per_request bounds how often one request fails, so a budget of 6 retries always wins
    # (with room for a spurious timeout on a busy machine).
    return Faults(
        rate=0.2, kinds=KINDS, seed=seed, retry_after=0.05, timeout_seconds=5.0, max_per_request=3
    )


def _events(root: Path) -> list[dict[str, Any]]:
    """The metrics log without what legitimately differs between runs (time and cost)."""
    lines = (root / "metrics.jsonl").read_text(encoding="utf-8").splitlines()
    events = [json.loads(line) for line in lines]
    return [{k: v for k, v in e.items() if k not in ("time", "total_cost", "cost")} for e in events]


def _train(
    root: Path,
    faults: Faults | None = None,
    forward_cls: type = AsyncOpenAI,
    callbacks: list[Callback] | None = None,
    breaker: set[str] | None = None,
    ckpt_path: str | None = None,
    **client_options: Any,
) -> dict[str, Any]:
    """One run on a fresh server; returns what it did (or the error that ended it)."""
    script = ScriptedModel()
    if breaker is not None:
        script.when(predicate=lambda r: phase_of(r) in breaker).reply(
            Reply("The model is overloaded.", status=500)
        )
    install(script)
    with LocalServer(script, faults=faults) as server:
        forward_model, optimizer_model, clients = make_clients(
            server.base_url, server.api_key, forward_cls=forward_cls, **client_options
        )
        agent = SentimentAgent(forward_model, optimizer_model)
        train, val = make_loaders()
        trainer = make_trainer(root, callbacks=callbacks)
        error: BaseException | None = None
        result = None
        try:
            result = trainer.fit(agent, train, val, ckpt_path=ckpt_path, llm_clients=clients)
        except RuntimeError as exc:
            error = exc
        calls = [*forward_model.calls, *clients[1].calls, *optimizer_model.calls]
        return {
            "result": result,
            "error": error,
            "agent": agent,
            "requests": server.requests,
            "calls": calls,
        }


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict[str, Any]:
    """The fault-free run everything is compared with."""
    root = tmp_path_factory.mktemp("reference")
    run = _train(root)
    assert run["error"] is None
    run["outcome"] = outcome(run["result"], run["agent"])
    run["events"] = _events(root)
    assert not any(r.fault for r in run["requests"])
    yield run
    afnio._model_client.ModelClientSingleton._instance = None


FAULT_RUNS = [(seed, AsyncOpenAI if seed % 2 else OpenAI) for seed in range(1, 7)]


@pytest.fixture(scope="module")
def fault_runs(reference, tmp_path_factory, figures) -> list[dict[str, Any]]:
    """The same training, once per fault seed (sync and async forward clients)."""
    runs = []
    for seed, forward_cls in FAULT_RUNS:
        root = tmp_path_factory.mktemp(f"faults-{seed}")
        run = _train(
            root, _faults(seed), forward_cls=forward_cls, timeout=CLIENT_TIMEOUT, max_retries=6
        )
        run["root"] = root
        run["faults"] = collections.Counter(r.fault for r in run["requests"] if r.fault)
        runs.append(run)
        figures.add(SECTION, "runs")
        figures.add(SECTION, "requests", len(run["requests"]))
        for kind, count in run["faults"].items():
            figures.add(SECTION, f"faults_{kind}", count)
        figures.add(SECTION, "faults_total", sum(run["faults"].values()))
        figures.add(SECTION, "client_retries", sum(call.retries for call in run["calls"]))
    yield runs
    afnio._model_client.ModelClientSingleton._instance = None


@pytest.mark.parametrize("index", range(len(FAULT_RUNS)), ids=[f"seed{s}" for s, _ in FAULT_RUNS])
def test_training_through_faults_ends_like_the_fault_free_run(index, fault_runs, reference):
    run = fault_runs[index]
    assert run["error"] is None
    # Same parameters, same metrics, same steps, same samples in the same order, seen once.
    assert outcome(run["result"], run["agent"]) == reference["outcome"]
    assert run["agent"].seen == reference["agent"].seen
    assert _events(run["root"]) == reference["events"]
    for path in run["root"].rglob("*.hf"):
        read_checkpoint(str(path))
    # Faults really happened, the clients retried them, and no call failed for good.
    assert sum(run["faults"].values()) >= 2
    assert sum(call.retries for call in run["calls"]) > 0
    assert not [call for call in run["calls"] if call.error]


def test_the_fault_runs_meet_every_kind_of_fault(fault_runs):
    seen = set().union(*(run["faults"] for run in fault_runs))
    # If the prompts change, the fates change too: pick other seeds if a kind goes missing.
    assert seen == set(KINDS)


# -- when the retry budget runs out -------------------------------------------------------------

NODES = {
    "forward": "ChatCompletionBackward0",
    "evaluator_backward": "ExactMatchEvaluatorBackward0",
    "chat_backward": "ChatCompletionBackward0",
    "optimizer": "TGD",
}
BREAK_AFTER = 3  # training batches that finish before the model breaks down
MAX_RETRIES = 2


class BreakDown(Callback):
    """Makes every request of ``phase`` fail (500) once ``after`` batches have finished."""

    def __init__(self, breaker: set[str], phase: str, after: int) -> None:
        self.breaker, self.phase, self.after, self.done = breaker, phase, after, 0

    def on_train_batch_end(self, trainer, agent, metrics, batch_idx):
        self.done += 1
        if self.done == self.after:
            self.breaker.add(self.phase)


def _break_down(root: Path, phase: str) -> dict[str, Any]:
    breaker: set[str] = set()
    log = BatchLog()
    run = _train(
        root,
        _faults(7),
        callbacks=[log, BreakDown(breaker, phase, BREAK_AFTER)],
        breaker=breaker,
        timeout=CLIENT_TIMEOUT,
        max_retries=MAX_RETRIES,
    )
    run["log"] = log
    return run


@pytest.mark.parametrize("phase", list(NODES))
def test_last_good_checkpoint_survives_and_resumes(
    phase, reference, tmp_path, figures, forget_backward_client
):
    run = _break_down(tmp_path, phase)
    assert isinstance(run["error"], RuntimeError)
    finished = len(run["log"].after)
    assert finished >= BREAK_AFTER

    # Every checkpoint on disk loads, safely, and none is left half written.
    paths = sorted(tmp_path.rglob("*.hf"))
    assert len(paths) == finished
    for path in paths:
        read_checkpoint(str(path))
    assert not [p for p in tmp_path.rglob("*") if p.suffix == ".tmp"]

    # The last one holds the state after the last batch that finished.
    last = read_checkpoint(find_last_checkpoint(str(tmp_path)))
    epoch, batch_idx, prompt = run["log"].after[-1]
    assert (last["epoch"], last["batch"]) == (epoch, batch_idx)
    assert last["trainer_state"]["global_step"] == finished
    assert last["agent_state_dict"]["system_prompt"].data == prompt

    # Resuming from it with a healthy model ends exactly like the uninterrupted run.
    resumed = _train(tmp_path, ckpt_path="last")
    assert resumed["error"] is None
    assert outcome(resumed["result"], resumed["agent"]) == reference["outcome"]
    assert resumed["agent"].seen == reference["agent"].seen[finished:]
    figures.add(SECTION, "budget_exhausted_runs")
    figures.add(SECTION, "budget_exhausted_resumed_exactly")


@pytest.mark.parametrize("phase", list(NODES))
def test_exhausted_retries_name_provider_model_node_and_tries(
    phase, tmp_path, figures, forget_backward_client
):
    run = _break_down(tmp_path, phase)
    error = run["error"]
    assert isinstance(error, RuntimeError)
    # The model error itself carries the details...
    cause = error.__cause__
    assert isinstance(cause, afnio.models.ModelCallError)
    assert (cause.provider, cause.model, cause.node) == ("openai", MODEL, NODES[phase])
    assert cause.attempts == MAX_RETRIES + 1
    # ...and the message the user reads says them all.
    message = str(error)
    assert "openai" in message and repr(MODEL) in message
    # A forward call is named after its operation; backward and optimizer calls after the node.
    assert ("ChatCompletion forward" if phase == "forward" else NODES[phase]) in message
    assert f"after {MAX_RETRIES + 1} attempts" in message
    assert "3 retries" in message  # the Trainer's own attempts at the batch
    # The breaker's answers (a 500 that is not a random fault) to the phase that broke down.
    dead = [r for r in run["requests"] if r.status == 500 and r.fault is None]
    assert {phase_of(ChatRequest(r.body)) for r in dead} == {phase}
    figures.add(SECTION, "attempts_on_a_dead_model", len(dead))
