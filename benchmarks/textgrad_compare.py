"""2. Side by side with TextGrad on the same workload and the same local server.

TextGrad (PyPI ``textgrad``) runs in its own virtual environment (see
:mod:`benchmarks.textgrad_env`), as a child process talking to the same server process as
afnio. Calls and tokens are counted by the server (tokens are the server's estimate,
``ceil(characters / 4)``, the same for both), in the time window each TextGrad step reports.
Every request of every step is distinct, so TextGrad's always-on disk cache (pointed at a fresh
temporary folder) never answers a measured call.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from pathlib import Path
from typing import Any

from benchmarks._report import format_table, median
from benchmarks._server import ServerProcess
from benchmarks.step_latency import measure_afnio
from benchmarks.textgrad_env import TEXTGRAD_VERSION, VENV, ensure_venv
from benchmarks.workload import LATENCY, QUICK_LATENCY, describe

NAME = "textgrad"
TITLE = "Side by side with TextGrad"
REPO = Path(__file__).resolve().parent.parent
RUN_TIMEOUT = 1200

COLUMNS = [
    ("batch", "batch"),
    ("afnio_wall_s", "afnio (s)"),
    ("textgrad_wall_s", "TextGrad (s)"),
    ("ratio", "TextGrad / afnio"),
    ("textgrad_threads_wall_s", "TextGrad, forward in threads (s)"),
    ("ratio_threads", "ratio"),
    ("afnio_calls", "afnio calls"),
    ("textgrad_calls", "TextGrad calls"),
    ("afnio_tokens", "afnio tokens"),
    ("textgrad_tokens", "TextGrad tokens"),
]


def _run_textgrad(
    interpreter: Path, server: ServerProcess, batches: list[int], repeats: int, mode: str
) -> dict[str, Any]:
    """Runs the TextGrad workload in its venv; returns its report with calls and tokens per
    step read from the server log."""
    with tempfile.TemporaryDirectory(prefix="afnio-bench-textgrad-") as tmp:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
        env.update(
            {
                "PYTHONPATH": str(REPO),
                "OPENAI_API_KEY": server.api_key,
                # TextGrad's cache and log go to a throw-away folder, and litellm (imported by
                # TextGrad) must not try to download its price list: there is no network here.
                "XDG_CACHE_HOME": tmp,
                "TEXTGRAD_LOG_DIR": tmp,
                "LITELLM_LOCAL_MODEL_COST_MAP": "True",
            }
        )
        env.pop("VIRTUAL_ENV", None)
        server.clear()
        command = [
            str(interpreter),
            "-m",
            "benchmarks.textgrad_env.run_workload",
            "--base-url",
            server.base_url,
            "--batches",
            ",".join(str(b) for b in batches),
            "--repeats",
            str(repeats),
            "--mode",
            mode,
        ]
        done = subprocess.run(
            command,
            cwd=REPO,
            env=env,
            capture_output=True,
            text=True,
            timeout=RUN_TIMEOUT,
            check=False,
        )
    if done.returncode != 0 or not done.stdout.strip():
        tail = "\n".join(done.stderr.strip().splitlines()[-8:])
        raise RuntimeError(f"the TextGrad workload exited with {done.returncode}:\n{tail}")
    report = json.loads(done.stdout.strip().splitlines()[-1])
    requests = server.requests()
    for step in report["steps"]:
        mine = [r for r in requests if step["start"] <= r.start <= step["end"]]
        step["calls"] = len(mine)
        step["prompt_tokens"] = sum(r.prompt_tokens for r in mine)
        step["completion_tokens"] = sum(r.completion_tokens for r in mine)
    return report


def _summary(report: dict[str, Any], batch: int) -> dict[str, Any]:
    steps = [s for s in report["steps"] if s["batch"] == batch and not s.get("warmup")]
    calls = {s["calls"] for s in steps}
    if len(calls) != 1:
        raise RuntimeError(f"TextGrad steps at batch {batch} made different numbers of calls.")
    if not all(s["prompts_updated"] for s in steps):
        raise RuntimeError("A TextGrad step did not update both prompts: the workload is broken.")
    return {
        "wall_s": round(median([s["wall"] for s in steps]), 4),
        "walls_s": [round(s["wall"], 4) for s in steps],
        "phases_s": {
            k: round(median([s["phases"][k] for s in steps]), 4)
            for k in ("forward", "backward", "step")
        },
        "calls": calls.pop(),
        "prompt_tokens": steps[-1]["prompt_tokens"],
        "completion_tokens": steps[-1]["completion_tokens"],
        "cpu_s": round(median([s["cpu"] for s in steps]), 4),
    }


def run(quick: bool) -> dict[str, Any]:
    batches = [1, 2] if quick else [1, 8, 32]
    repeats = 1 if quick else 3
    # A TextGrad step at batch 32 takes about 20 s, sequentially: two are enough for a median.
    textgrad_repeats = 1 if quick else 2
    latency = QUICK_LATENCY if quick else LATENCY
    modes = ["sequential"] if quick else ["sequential", "threads"]
    workload = describe(batches, latency) + (
        f"; afnio with default clients; TextGrad {TEXTGRAD_VERSION} with ChatExternalClient "
        "(openai.OpenAI at the same server), StringBasedFunction exact match per sample, "
        f"tg.sum + backward + TGD; {repeats} (afnio) and {textgrad_repeats} (TextGrad) measured "
        "steps per batch size after one warm-up"
    )
    print(f"workload: {workload}", flush=True)
    notes: list[str] = []
    status = "ok"
    interpreter: Path | None = None
    if quick and not (VENV / "bin" / "python").exists():
        status = "skipped"
        notes.append(
            f"TextGrad half skipped: --quick does not install TextGrad ({VENV.name} is made by "
            "a full run)."
        )
    else:
        log = Path(tempfile.gettempdir()) / "afnio-bench-textgrad-install.log"
        interpreter, message = ensure_venv(log)
        print(f"  {message}", flush=True)
        if interpreter is None:
            status = "unavailable"
            notes.append(f"TextGrad could not be installed: {message} (pip log: {log})")
    rows: list[dict[str, Any]] = []
    reports: dict[str, Any] = {}
    with ServerProcess(latency) as server:
        for batch in batches:
            row = measure_afnio(server, batch, repeats)
            rows.append(
                {
                    "batch": batch,
                    "afnio_wall_s": row["wall_s"],
                    "afnio_walls_s": row["walls_s"],
                    "afnio_calls": row["calls"],
                    "afnio_prompt_tokens": row["prompt_tokens"],
                    "afnio_completion_tokens": row["completion_tokens"],
                    "afnio_tokens": row["prompt_tokens"] + row["completion_tokens"],
                    "afnio_cpu_s": row["cpu_s"],
                }
            )
            print(f"  afnio batch {batch:>2}: {row['wall_s']:.3f} s", flush=True)
        if interpreter is not None:
            for mode in modes:
                try:
                    reports[mode] = _run_textgrad(
                        interpreter, server, batches, textgrad_repeats, mode
                    )
                except (RuntimeError, subprocess.TimeoutExpired, ValueError) as exc:
                    status = "failed"
                    notes.append(f"TextGrad ({mode}) did not run: {exc}")
                    break
    version = None
    for mode, report in reports.items():
        version = report.get("textgrad_version") or version
        suffix = "" if mode == "sequential" else "_threads"
        for row in rows:
            summary = _summary(report, row["batch"])
            row[f"textgrad{suffix}_wall_s"] = summary["wall_s"]
            row[f"textgrad{suffix}_walls_s"] = summary["walls_s"]
            row[f"textgrad{suffix}_phases_s"] = summary["phases_s"]
            row[f"textgrad{suffix}_calls"] = summary["calls"]
            row[f"textgrad{suffix}_tokens"] = (
                summary["prompt_tokens"] + summary["completion_tokens"]
            )
            row[f"textgrad{suffix}_prompt_tokens"] = summary["prompt_tokens"]
            row[f"textgrad{suffix}_cpu_s"] = summary["cpu_s"]
            row[f"ratio{suffix}"] = round(summary["wall_s"] / row["afnio_wall_s"], 2)
    return {
        "title": TITLE,
        "workload": workload,
        "status": status,
        "textgrad_version": version,
        "rows": rows,
        "notes": notes,
        "table": format_table(COLUMNS, rows),
    }
