"""3. Throughput: many chat requests against a server that answers at once.

Against a fast local server (vLLM, llama.cpp on a GPU box) over a large evaluation set, what
limits a Python process is the client's own CPU per call. Each client sends the same 2,000 chat
requests, 64 at a time, to a server with no latency (the plain threaded server of
:mod:`benchmarks._plain_server`, in its own process), each client in a process of its own (see
:mod:`benchmarks.throughput_client`): calls per second, and the client process's CPU per call by
``resource.getrusage``. CPU per
call is the figure that holds on a busy machine; calls per second also depend on the server and
on what else runs.

LiteLLM (PyPI ``litellm``) runs in its own virtual environment, made on first use; afnio's
environment never has it.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from benchmarks import _venv
from benchmarks._report import format_table
from benchmarks._server import ServerProcess

NAME = "throughput"
TITLE = "Throughput: chat requests at 0 latency"
REPO = Path(__file__).resolve().parent.parent
LITELLM_REQUIREMENT = "litellm==1.110.2"
"""The LiteLLM release measured (the latest on PyPI when this benchmark was written)."""
LITELLM_VENV = Path(__file__).resolve().parent / ".venv-litellm"
TARGET_CPU_MS = 0.8
TARGET_CALLS_PER_S = 1200
RUN_TIMEOUT = 600

LABELS = {
    "afnio-achat": "afnio AsyncOpenAI.achat (from the caller's loop)",
    "afnio-op": "afnio chat_completion op (one batch)",
    "sdk-httpx": "openai SDK create (default httpx)",
    "sdk-aiohttp": "openai SDK create (aiohttp)",
    "sdk-aiohttp-post": "openai SDK post (aiohttp)",
    "litellm": "LiteLLM acompletion",
}

COLUMNS = [
    ("server", "server"),
    ("label", "client"),
    ("calls_per_s", "calls/s"),
    ("cpu_ms_per_call", "client CPU / call (ms)"),
    ("wall_s", "wall (s)"),
    ("version", "version"),
]


def _leg(
    interpreter: str, client: str, server: ServerProcess, requests: int, concurrency: int
) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(
        {
            "PYTHONPATH": str(REPO),
            "BENCH_API_KEY": server.api_key,
            # LiteLLM must not try to download its price list: there is no network here.
            "LITELLM_LOCAL_MODEL_COST_MAP": "True",
        }
    )
    if client == "litellm":
        env.pop("VIRTUAL_ENV", None)
    command = [
        interpreter,
        "-m",
        "benchmarks.throughput_client",
        "--client",
        client,
        "--base-url",
        server.base_url,
        "--requests",
        str(requests),
        "--concurrency",
        str(concurrency),
    ]
    done = subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=RUN_TIMEOUT
    )
    if done.returncode != 0 or not done.stdout.strip():
        tail = "\n".join(done.stderr.strip().splitlines()[-6:])
        raise RuntimeError(f"the {client} leg exited with {done.returncode}:\n{tail}")
    return dict(json.loads(done.stdout.strip().splitlines()[-1]))


def run(quick: bool) -> dict[str, Any]:
    import sys

    requests = 40 if quick else 2000
    concurrency = 8 if quick else 64
    # The plain server: the figures are the client's, and it spends the least CPU per request
    # on the shared cores (the step benchmark compares the two flavours).
    flavours = ("plain",)
    workload = (
        f"{requests:,} chat requests (a system prompt and a distinct question each), "
        f"{concurrency} in flight, against a 0-latency plain threaded HTTP server in its own "
        "process; each client in "
        "a process of its own, measured after a warm-up of 64 requests; client CPU per call by "
        f"resource.getrusage of the client process; LiteLLM ({LITELLM_REQUIREMENT}) in its own "
        "environment"
    )
    print(f"workload: {workload}", flush=True)
    notes: list[str] = []
    litellm: Path | None = None
    if quick and not _venv.interpreter(LITELLM_VENV).exists():
        notes.append("LiteLLM leg skipped: --quick does not install LiteLLM (a full run does).")
    else:
        log = Path(tempfile.gettempdir()) / "afnio-bench-litellm-install.log"
        litellm, message = _venv.ensure(LITELLM_VENV, LITELLM_REQUIREMENT, log)
        print(f"  {message}", flush=True)
        if litellm is None:
            notes.append(f"LiteLLM could not be installed: {message} (pip log: {log})")
    rows: list[dict[str, Any]] = []
    for flavour in flavours:
        with ServerProcess(0.0, flavour) as server:
            for client in LABELS:
                if client == "litellm" and litellm is None:
                    continue
                interpreter = str(litellm) if client == "litellm" else sys.executable
                try:
                    row = _leg(interpreter, client, server, requests, concurrency)
                except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
                    notes.append(f"{LABELS[client]} against the {flavour} server failed: {exc}")
                    continue
                row.update({"server": flavour, "label": LABELS[client]})
                rows.append(row)
                print(
                    f"  {flavour:5} {LABELS[client]:50} {row['calls_per_s']:>7.0f} calls/s "
                    f"{row['cpu_ms_per_call']:.3f} ms CPU/call",
                    flush=True,
                )
                server.clear()
    afnio = [r for r in rows if r["client"] == "afnio-op"]
    return {
        "title": TITLE,
        "workload": workload,
        "requests": requests,
        "concurrency": concurrency,
        "target_cpu_ms_per_call": TARGET_CPU_MS,
        "target_calls_per_s": TARGET_CALLS_PER_S,
        "best_afnio_cpu_ms_per_call": min((r["cpu_ms_per_call"] for r in afnio), default=None),
        "rows": rows,
        "notes": notes,
        "table": format_table(COLUMNS, rows),
    }
