"""1. Training-step latency against the critical path.

The critical path of a step is the longest chain of model calls that depend on each other:
stage 1 -> stage 2 (forward), evaluator -> stage 2 -> stage 1 (backward: each node's feedback
needs its consumers' feedback), then the optimizer (both prompts at once). Every call waits the
server's fixed latency, so no schedule can finish a step in less than ``depth x latency``;
everything beyond that is overhead (client CPU, HTTP, queueing). The depth is read from the
graph (:func:`benchmarks.workload.critical_path`) and checked against the request log (the
longest chain of requests each sent after the previous one was answered).

Diagnosis at the largest batch: the same requests replayed with the bare ``openai`` SDK (the
floor any SDK-based library stands on), the client CPU per call, a lower bound that accounts for
that CPU (the calls of one level share one interpreter), variants of the client setup, and a
profile of every afnio thread.
"""

from __future__ import annotations

import asyncio
import contextlib
import sys
import time
from collections.abc import Iterator
from typing import Any

from benchmarks import _profile
from benchmarks._report import format_table, median
from benchmarks._server import Request, ServerProcess
from benchmarks.workload import (
    LATENCY,
    MODEL,
    QUICK_LATENCY,
    AfnioPipeline,
    critical_path,
    dependency_levels,
    describe,
    log_depth,
    replay_floor,
)

NAME = "step"
TITLE = "Training-step latency vs. the critical path"
TARGET_RATIO = 1.25

COLUMNS = [
    ("server", "server"),
    ("batch", "batch"),
    ("config", "afnio clients"),
    ("calls", "model calls"),
    ("critical_path", "critical path (calls)"),
    ("bound_s", "bound (s)"),
    ("wall_s", "wall (s)"),
    ("ratio", "wall / bound"),
    ("log_depth", "sequential depth in log"),
    ("peak_in_flight", "peak in flight"),
    ("floor_s", "bare SDK (s)"),
    ("cpu_ms_per_call", "client CPU / call (ms)"),
]


def _tokens(requests: list[Request]) -> tuple[int, int]:
    return sum(r.prompt_tokens for r in requests), sum(r.completion_tokens for r in requests)


def measure_afnio(
    server: ServerProcess,
    batch: int,
    repeats: int,
    max_concurrency: int | None = None,
    label: str = "defaults",
    sync_forward: bool = False,
) -> dict[str, Any]:
    """Runs ``repeats`` training steps (after one warm-up) and summarises them.

    Returns a row: median wall time, calls, tokens, critical path, the depth seen in the log,
    the peak of requests in flight, the client CPU, and the requests of the first step
    (for the replay), under ``"_requests"``.
    """
    pipeline = AfnioPipeline(server.base_url, server.api_key, max_concurrency)
    if sync_forward:
        from afnio.models.openai import OpenAI

        options: dict[str, Any] = {"base_url": server.base_url, "api_key": server.api_key}
        if max_concurrency is not None:
            options["max_concurrency"] = max_concurrency
        pipeline.forward_client = OpenAI(**options)
        pipeline.optimizer_client = OpenAI(**options)
        pipeline.reset_prompts()
    pipeline.step(batch, f"{label}-{batch}-warm")
    walls, cpus, depths, peaks, durations = [], [], [], [], []
    paths: list[dict[str, int]] = []
    calls: set[int] = set()
    tokens = (0, 0)
    replayable: list[Request] | None = None
    for i in range(repeats):
        pipeline.reset_prompts()
        server.clear()
        step = pipeline.step(batch, f"{label}-{batch}-{i}")
        requests = server.requests()
        path = critical_path(step.root, step.optimizer)
        depth = log_depth(requests)
        walls.append(step.wall)
        cpus.append(step.cpu)
        depths.append(depth)
        peaks.append(server.max_in_flight())
        paths.append(path)
        calls.add(len(requests))
        durations.extend(r.end - r.start for r in requests)
        tokens = _tokens(requests)
        if replayable is None:
            replayable = requests
    if len(calls) != 1 or len({p["total"] for p in paths}) != 1:
        raise RuntimeError(f"Steps differ in calls {calls} or critical path {paths}.")
    n_calls = calls.pop()
    path = paths[0]
    bound = path["total"] * server.latency
    wall = median(walls)
    return {
        "server": server.flavour,
        "batch": batch,
        "config": label,
        "calls": n_calls,
        "critical_path": path["total"],
        "critical_path_parts": path,
        "bound_s": round(bound, 4),
        "wall_s": round(wall, 4),
        "walls_s": [round(w, 4) for w in walls],
        "ratio": round(wall / bound, 3),
        "log_depth": max(depths),
        "peak_in_flight": max(peaks),
        "prompt_tokens": tokens[0],
        "completion_tokens": tokens[1],
        "cpu_s": round(median(cpus), 4),
        "cpu_ms_per_call": round(median(cpus) / n_calls * 1000, 2),
        "server_time_median_s": round(median(durations), 4),
        "server_time_max_s": round(max(durations), 4),
        "_requests": replayable,
    }


def cpu_bound(level_sizes: list[int], latency: float, cpu_per_call: float) -> float:
    """A lower bound on a step's wall time when every call also costs ``cpu_per_call`` seconds
    of client CPU on one interpreter: a level of ``n`` calls needs ``n x cpu`` of CPU, and at
    least one call's latency plus its CPU."""
    return sum(max(n * cpu_per_call, latency + cpu_per_call) for n in level_sizes)


def sdk_cpu_per_call(server: ServerProcess, calls: int) -> dict[str, float]:
    """Client CPU (ms) of one chat completion through the bare SDK, one call at a time:
    ``AsyncOpenAI.chat.completions.create`` over the default HTTP stack and over aiohttp,
    ``AsyncOpenAI.post`` with the body as it is (no parameter transform) over aiohttp, and the
    sync ``OpenAI.chat.completions.create``."""
    import openai
    from openai.types.chat import ChatCompletion

    body = {
        "model": MODEL,
        "temperature": 0,
        "messages": [
            {"role": "system", "content": "You answer questions. " * 20},
            {"role": "user", "content": "Question: what is 2 plus 2? " * 10},
        ],
    }

    async def run_async(mode: str) -> float:
        extra: dict[str, Any] = {}
        if mode != "create":
            extra["http_client"] = openai.DefaultAioHttpClient()
        client = openai.AsyncOpenAI(base_url=server.base_url, api_key="x", max_retries=0, **extra)
        try:
            await client.chat.completions.create(**body)  # type: ignore[call-overload]
            cpu0 = time.process_time()
            for _ in range(calls):
                if mode == "post_aiohttp":
                    await client.post("/chat/completions", body=body, cast_to=ChatCompletion)
                else:
                    await client.chat.completions.create(**body)  # type: ignore[call-overload]
            return (time.process_time() - cpu0) / calls * 1000
        finally:
            await client.close()

    sync_client = openai.OpenAI(base_url=server.base_url, api_key="x", max_retries=0)
    sync_client.chat.completions.create(**body)  # type: ignore[call-overload]
    cpu0 = time.process_time()
    for _ in range(calls):
        sync_client.chat.completions.create(**body)  # type: ignore[call-overload]
    sync_ms = (time.process_time() - cpu0) / calls * 1000
    sync_client.close()
    return {
        "async_create_ms": round(asyncio.run(run_async("create")), 2),
        "async_create_aiohttp_ms": round(asyncio.run(run_async("create_aiohttp")), 2),
        "async_post_aiohttp_ms": round(asyncio.run(run_async("post_aiohttp")), 2),
        "sync_create_ms": round(sync_ms, 2),
    }


@contextlib.contextmanager
def _switch_interval(seconds: float) -> Iterator[None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(seconds)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def _profile_step(server: ServerProcess, batch: int, steps: int) -> dict[str, Any]:
    # The clients are made inside the profile so that their worker threads are profiled too
    # (connection set-up is then part of the first step). Their configuration is used by no
    # other measurement: threads started while profiling stay profiled.
    with _profile.ThreadsProfile() as profile:
        pipeline = AfnioPipeline(server.base_url, server.api_key, tuned_mc(batch) + 1)
        for i in range(steps):
            pipeline.step(batch, f"profile-{i}")
    stats = profile.stats()
    cpu = _profile.total(stats)
    packages = _profile.by_package(stats, top=100)
    afnio_cpu = sum(p["seconds"] for p in packages if p["package"].startswith("afnio"))
    transform = _profile.cumulative(
        stats, "openai/_utils/_transform.py", ("maybe_transform", "async_maybe_transform")
    )
    return {
        "steps": steps,
        "threads": profile.threads,
        "cpu_s": round(cpu, 3),
        "afnio_share": round(afnio_cpu / cpu, 3) if cpu else None,
        "openai_param_transform_share": round(transform / cpu, 3) if cpu else None,
        "by_package": packages[:12],
        "top_functions": _profile.top_functions(stats, top=12, root="afnio/"),
    }


def _diagnose(
    server: ServerProcess, rows: list[dict[str, Any]], batch: int, repeats: int, quick: bool
) -> dict[str, Any]:
    tuned = next(r for r in rows if r["batch"] == batch and r["config"] != "defaults")
    requests = tuned["_requests"] or next(
        (r["_requests"] for r in rows if r["batch"] == batch and r["_requests"]), None
    )
    out: dict[str, Any] = {"batch": batch}
    if requests:
        levels = dependency_levels(requests)
        sizes = [levels.count(k) for k in range(1, max(levels) + 1)]
        out["level_sizes"] = sizes
        cpu = tuned["cpu_ms_per_call"] / 1000
        out["cpu_bound_s"] = round(cpu_bound(sizes, server.latency, cpu), 4)
        target = TARGET_RATIO * tuned["bound_s"]
        # The largest CPU per call that still lets a step meet the target (bisection).
        lo, hi = 0.0, 0.1
        for _ in range(40):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if cpu_bound(sizes, server.latency, mid) <= target else (lo, mid)
        out["max_cpu_ms_per_call_for_target"] = round(lo * 1000, 2)
    out["sdk_cpu_per_call"] = sdk_cpu_per_call(server, 10 if quick else 100)
    variants = []
    variants.append(
        measure_afnio(
            server, batch, repeats, tuned_mc(batch), "sync clients (OpenAI) everywhere", True
        )
    )
    with _switch_interval(0.0005):
        variants.append(
            measure_afnio(server, batch, repeats, tuned_mc(batch), "GIL switch interval 0.5 ms")
        )
    for v in variants:
        v.pop("_requests", None)
    out["variants"] = variants
    out["profile"] = _profile_step(server, batch, 1 if quick else 3)
    return out


def tuned_mc(batch: int) -> int:
    """A ``max_concurrency`` that never queues a call of the workload (one level has at most
    ``batch`` calls)."""
    return max(64, 2 * batch)


def _add_floor(server: ServerProcess, rows: list[dict[str, Any]], repeats: int) -> None:
    """Adds the bare-SDK replay of the rows' requests (same batch, same server) to the rows."""
    requests = next((r["_requests"] for r in rows if r["_requests"]), None)
    floor = None
    if requests:
        floor = round(replay_floor(server.base_url, server.api_key, requests, repeats), 4)
    for r in rows:
        r["floor_s"] = floor
        r["floor_ratio"] = None if floor is None else round(floor / r["bound_s"], 3)


def run(quick: bool) -> dict[str, Any]:
    batches = [1, 2] if quick else [1, 8, 32]
    repeats = 1 if quick else 5
    latency = QUICK_LATENCY if quick else LATENCY
    workload = describe(batches, latency) + (
        f"; the largest batch also against a plain threaded HTTP server (own process, same "
        f"latency); {repeats} measured steps per row after one warm-up"
    )
    print(f"workload: {workload}", flush=True)
    rows: list[dict[str, Any]] = []
    big = batches[-1]
    # The largest batch again against the plain server: the figures must not depend on one
    # server implementation.
    with ServerProcess(latency, "plain") as plain:
        rows.append(measure_afnio(plain, big, repeats))
        _add_floor(plain, [rows[-1]], repeats)
        print(f"  batch {big:>2} defaults, plain server: {rows[-1]['wall_s']:.3f} s", flush=True)
    with ServerProcess(latency) as server:
        local: list[dict[str, Any]] = []
        for batch in batches:
            local.append(measure_afnio(server, batch, repeats))
            print(f"  batch {batch:>2} defaults: {local[-1]['wall_s']:.3f} s", flush=True)
        local.append(
            measure_afnio(server, big, repeats, tuned_mc(big), f"max_concurrency={tuned_mc(big)}")
        )
        for batch in batches:
            _add_floor(server, [r for r in local if r["batch"] == batch], repeats)
        rows = local + rows
        diagnosis = _diagnose(server, local, big, repeats, quick)
    for row in rows:
        row.pop("_requests", None)
    return {
        "title": TITLE,
        "workload": workload,
        "latency_s": latency,
        "target_ratio": TARGET_RATIO,
        "rows": rows,
        "diagnosis": diagnosis,
        "table": format_table(COLUMNS, rows),
    }
