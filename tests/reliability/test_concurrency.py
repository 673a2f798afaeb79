"""Concurrency: grad mode is per thread; threads building graphs and running backward at the same
time get correct, independent results; the backward engine under 50 concurrent samples with
random server latencies (and faults) gives the gradients of a sequential run.

Overlap is proven, not hoped for: barriers inside backward functions only open when every
thread's pass is inside one at once, and the server reports how many requests it held at once.
"""

from __future__ import annotations

import asyncio
import random
import threading
from collections.abc import Callable
from typing import Any

import pytest

import afnio
import afnio.cognitive.functional as F
from afnio import Variable
from afnio._runtime import run_sync
from afnio.autodiff.function import Function
from afnio.autodiff.graph import register_graph_observer
from afnio.models.openai import AsyncOpenAI, OpenAI
from afnio.testing import ChatRequest, Faults, LocalServer, ScriptedModel

SECTION = "concurrency"
TIMEOUT = 60.0  # seconds a barrier waits before the test fails (a deadlock, not a slow run)


def _run_threads(target: Callable[[int], Any], n: int) -> list[Any]:
    """Runs ``target(i)`` in ``n`` threads; returns the results, re-raising the first error."""
    results: list[Any] = [None] * n
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results[i] = target(i)
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(TIMEOUT * 2)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    if errors:
        raise errors[0]
    return results


# -- grad mode -----------------------------------------------------------------------------------


def test_no_grad_in_one_thread_does_not_leak_into_another():
    inside = threading.Event()
    checked = threading.Event()
    seen: dict[str, Any] = {}
    x = Variable("a", role="x", requires_grad=True)

    def disabled() -> None:
        with afnio.no_grad():
            inside.set()
            assert checked.wait(TIMEOUT)
            seen["disabled"] = (afnio.is_grad_enabled(), (x + x).requires_grad)
        seen["restored"] = afnio.is_grad_enabled()

    def enabled() -> None:
        assert inside.wait(TIMEOUT)
        seen["enabled"] = (afnio.is_grad_enabled(), (x + x).requires_grad)
        checked.set()

    _run_threads(lambda i: (disabled, enabled)[i](), 2)
    assert seen == {"disabled": (False, False), "enabled": (True, True), "restored": True}
    assert afnio.is_grad_enabled()


def test_grad_mode_switching_in_many_threads_at_once(figures):
    threads, rounds = 8, 150
    barrier = threading.Barrier(threads, timeout=TIMEOUT)
    x = Variable("a", role="x", requires_grad=True)

    def switch(i: int) -> int:
        rng = random.Random(i)
        checks = 0
        for _ in range(rounds):
            mode = rng.random() < 0.5
            style = rng.randrange(3)
            barrier.wait()  # every thread switches at the same moment
            if style == 0:
                afnio.set_grad_enabled(mode)
                assert afnio.is_grad_enabled() is mode and (x + x).requires_grad is mode
                afnio.set_grad_enabled(True)
            elif style == 1:
                with afnio.set_grad_enabled(mode):
                    assert afnio.is_grad_enabled() is mode and (x + x).requires_grad is mode
            else:
                context = afnio.no_grad() if not mode else afnio.enable_grad()
                with context:
                    assert afnio.is_grad_enabled() is mode and (x + x).requires_grad is mode
            assert afnio.is_grad_enabled()
            checks += 1
        return checks

    total = sum(_run_threads(switch, threads))
    assert total == threads * rounds
    figures.add(SECTION, "grad_mode_switches_checked", total)


# -- threads building graphs and running backward -------------------------------------------------


class Rendezvous(Function):
    """Identity whose (blocking) backward waits until every thread's pass reached it."""

    barrier: threading.Barrier

    @staticmethod
    def forward(ctx: Any, x: Variable) -> Variable:
        ctx.role = x.role
        return Variable(x.data, role=f"met {x.role}")

    @staticmethod
    def backward(ctx: Any, grad: Variable) -> Variable:
        Rendezvous.barrier.wait()  # runs in a worker thread: blocking here is allowed
        return Variable(f"[met] {grad.data}", role=f"feedback to {ctx.role}")


class AsyncRendezvous(Function):
    """Identity whose async backward waits, on afnio's loop, for every thread's pass."""

    barrier: asyncio.Barrier

    @staticmethod
    def forward(ctx: Any, x: Variable) -> Variable:
        ctx.role = x.role
        return Variable(x.data, role=f"awaited {x.role}")

    @staticmethod
    async def backward(ctx: Any, grad: Variable) -> Variable:
        async with asyncio.timeout(TIMEOUT):
            await AsyncRendezvous.barrier.wait()
        return Variable(f"[awaited] {grad.data}", role=f"feedback to {ctx.role}")


def _graph(i: int) -> tuple[list[Variable], Variable]:
    """A small graph per thread: Split, Add, Sum and the two rendezvous functions."""
    words = Variable(f"alpha{i} beta{i}", role=f"words {i}", requires_grad=True)
    prefix = Variable(f"p{i}:", role=f"prefix {i}", requires_grad=True)
    first, second = F.split(words, " ")
    joined = F.sum([Rendezvous.apply(prefix + first), AsyncRendezvous.apply(second)])
    return [words, prefix], joined


def _grads(leaves: list[Variable]) -> list[list[tuple[str, str]]]:
    return [[(g.data, g.role) for g in leaf.grad] for leaf in leaves]


def test_threads_build_graphs_and_run_backward_at_once(figures):
    n = 4  # below the engine's worker threads, so all blocking backwards can wait together
    # What each graph must give, computed one at a time (with the barriers of one party).
    Rendezvous.barrier = threading.Barrier(1, timeout=TIMEOUT)
    AsyncRendezvous.barrier = run_sync(_make_async_barrier(1))
    expected = []
    for i in range(n):
        leaves, root = _graph(i)
        root.backward(Variable(f"feedback {i}", role="feedback"))
        expected.append(_grads(leaves))

    Rendezvous.barrier = threading.Barrier(n, timeout=TIMEOUT)
    AsyncRendezvous.barrier = run_sync(_make_async_barrier(n))
    events: list[Any] = []
    start = threading.Barrier(n, timeout=TIMEOUT)

    def work(i: int) -> list[list[tuple[str, str]]]:
        start.wait()
        leaves, root = _graph(i)
        root.backward(Variable(f"feedback {i}", role="feedback"))
        return _grads(leaves)

    with register_graph_observer(events.append):
        results = _run_threads(work, n)
    assert results == expected
    # Each pass reported its own nodes only, under its own backward id.
    passes = {e.backward_id for e in events if e.kind == "backward_started"}
    assert len(passes) == n
    for backward_id in passes:
        finished = [e for e in events if e.backward_id == backward_id and e.kind == "node_finished"]
        names = sorted(e.node.name() for e in finished)
        assert names.count("RendezvousBackward0") == 1
        assert names.count("AsyncRendezvousBackward0") == 1
    figures.add(SECTION, "threads_with_overlapping_backward_passes", n)


async def _make_async_barrier(parties: int) -> asyncio.Barrier:
    return asyncio.Barrier(parties)


# -- the backward engine under load ---------------------------------------------------------------

SAMPLES = 50


def _review(i: int) -> str:
    return f"review number {i} " + "good " * (i % 3) + "bad " * (i % 2)


def _answer(request: ChatRequest) -> Any:
    """Deterministic forward and backward models: every reply names its sample."""
    user = next(m["content"] for m in request.messages if m.get("role") == "user")
    if request.schema_name == "variable_feedback":
        keys = request.schema["required"]
        feedback = user.split("<FEEDBACK>\n", 1)[1].split("\n</FEEDBACK>", 1)[0]
        return {key: f"{key} should address: {feedback}" for key in keys}
    return f"label for [{user}]"


def _lm_graph(
    base_url: str, api_key: str, max_concurrency: int, forward_cls: type
) -> dict[str, Any]:
    options = {
        "base_url": base_url,
        "api_key": api_key,
        "max_concurrency": max_concurrency,
        "max_retries": 6,
        "retry_base_delay": 0.01,
        "retry_max_delay": 0.05,
        "retry_seed": 0,
        # A per-attempt deadline, as any real configuration has: a reply that never arrives
        # becomes a retried timeout (not in the compared calls) instead of a stalled suite.
        "timeout": 20.0,
    }
    afnio.set_backward_model_client("openai/gpt-4o-mini", client_args=dict(options))
    model = forward_cls(**options)
    system = Variable("Label each review.", role="system prompt", requires_grad=True)
    reviews = Variable([_review(i) for i in range(SAMPLES)], role="reviews", requires_grad=True)
    notes = [Variable(f"note {i}", role=f"note {i}", requires_grad=True) for i in range(SAMPLES)]
    template = Variable("{review} ({note})", role="template")
    out = F.chat_completion(
        model,
        [{"role": "system", "content": [system]}, {"role": "user", "content": [template]}],
        {"review": reviews, "note": notes},
        model="gpt-4o-mini",
    )
    feedback = Variable([f"fix sample {i}" if i % 4 else "" for i in range(SAMPLES)], role="fb")
    out.backward(feedback)
    node = out.grad_fn
    return {
        "output": out.data,
        "system": [(g.data, g.role) for g in system.grad],
        "reviews": [(g.data, g.role) for g in reviews.grad],
        "notes": [[(g.data, g.role) for g in note.grad] for note in notes],
        # The calls whose replies were used (a malformed reply is asked again).
        "calls": sorted(
            (c.phase, c.sample, c.response)
            for c in node.calls
            if c.error is None and (c.phase == "forward" or c.parsed is not None)
        ),
    }


RUNS = {
    "sequential": {"latency": 0.0, "faults": None, "max_concurrency": 1, "client": AsyncOpenAI},
    "concurrent, random latency": {
        "latency": (0.02, 0.06),
        "faults": None,
        "max_concurrency": 16,
        "client": AsyncOpenAI,
    },
    "concurrent, random latency, sync client": {
        "latency": (0.02, 0.06),
        "faults": None,
        "max_concurrency": 16,
        "client": OpenAI,
    },
    "concurrent, random latency and faults": {
        "latency": (0.02, 0.06),
        "faults": Faults(
            rate=0.2, kinds=("429", "500", "malformed_json"), seed=5, max_per_request=2
        ),
        "max_concurrency": 64,
        "client": AsyncOpenAI,
    },
}


@pytest.fixture(scope="module")
def lm_runs(figures) -> dict[str, Any]:
    results = {}
    for name, run in RUNS.items():
        script = ScriptedModel()
        script.when().reply(_answer)
        with LocalServer(script, latency=run["latency"], faults=run["faults"]) as server:
            result = _lm_graph(
                server.base_url, server.api_key, run["max_concurrency"], run["client"]
            )
            result["max_in_flight"] = server.max_in_flight
            result["faults"] = sum(1 for r in server.requests if r.fault)
            result["requests"] = len(server.requests)
        results[name] = result
        figures.put(SECTION, f"max_in_flight[{name}]", result["max_in_flight"])
        figures.add(SECTION, "lm_requests", result["requests"])
        figures.add(SECTION, "lm_faults", result["faults"])
    yield results
    afnio._model_client.ModelClientSingleton._instance = None


@pytest.mark.parametrize("name", [name for name in RUNS if name != "sequential"])
def test_concurrent_backward_gives_the_sequential_gradients(name, lm_runs):
    sequential, concurrent = lm_runs["sequential"], lm_runs[name]
    assert sequential["max_in_flight"] == 1
    # Samples really overlapped (each request stays on the server for 20-60 ms, so a client that
    # keeps 16 requests going shows several at once even on a busy machine).
    assert concurrent["max_in_flight"] >= 4
    for key in ("output", "system", "reviews", "notes", "calls"):
        assert concurrent[key] == sequential[key], key


def test_the_sequential_run_is_the_expected_one(lm_runs):
    run = lm_runs["sequential"]
    assert run["output"][3] == f"label for [{_review(3)} (note 3)]"
    assert len(run["system"]) == 1 and len(run["reviews"]) == 1
    assert run["reviews"][0][0][0] == ""  # sample 0 had no feedback, so no call
    assert "fix sample 5" in run["reviews"][0][0][5]
    assert run["notes"][0] == [("", "feedback to note 0")]
    assert "fix sample 7" in run["notes"][7][0][0]
    backward = [c for c in run["calls"] if c[0] == "backward"]
    assert len(backward) == SAMPLES - SAMPLES // 4 - (1 if SAMPLES % 4 else 0)


def test_threads_share_one_backward_client(figures, forget_backward_client):
    script = ScriptedModel()
    script.when().reply(_answer)
    n = 4
    with LocalServer(script, latency=(0.0, 0.03)) as server:
        afnio.set_backward_model_client(
            "openai/gpt-4o-mini",
            client_args={"base_url": server.base_url, "api_key": server.api_key},
        )
        model = AsyncOpenAI(base_url=server.base_url, api_key=server.api_key)
        start = threading.Barrier(n, timeout=TIMEOUT)

        def work(i: int) -> list[str]:
            prompt = Variable(f"Prompt of thread {i}.", role=f"prompt {i}", requires_grad=True)
            question = Variable("{q}", role="question")
            start.wait()
            out = F.chat_completion(
                model,
                [{"role": "system", "content": [prompt]}, {"role": "user", "content": [question]}],
                {"q": [f"thread {i} question {k}" for k in range(8)]},
                model="gpt-4o-mini",
            )
            out.backward(Variable(f"feedback of thread {i}", role="feedback"))
            return [g.data for g in prompt.grad]

        results = _run_threads(work, n)
        assert server.max_in_flight >= n
    for i, grads in enumerate(results):
        assert len(grads) == 1
        assert grads[0].count(f"feedback of thread {i}") == 8
        assert all(f"thread {j}" not in grads[0] for j in range(n) if j != i)
    figures.add(SECTION, "threads_sharing_the_backward_client", n)
