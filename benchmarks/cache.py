"""4. The response cache: the same training step twice, the second from the cache.

Every client of the workload (forward, backward, optimizer) is given ``cache=<one SQLite file>``.
Run 1 fills it; run 2 builds the pipeline again (new clients on the same file, the initial
prompts, the same questions), as a second run of the same script would, and should send
nothing to the server.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

from benchmarks._report import format_table
from benchmarks._server import ServerProcess
from benchmarks.workload import LATENCY, QUICK_LATENCY, AfnioPipeline, describe

NAME = "cache"
TITLE = "Response cache: the same step twice"

COLUMNS = [
    ("batch", "batch"),
    ("run1_requests", "run 1 server requests"),
    ("run1_wall_s", "run 1 (s)"),
    ("run2_requests", "run 2 server requests"),
    ("run2_cache_hits", "run 2 cache hits"),
    ("run2_wall_s", "run 2 (s)"),
    ("speedup", "run 1 / run 2"),
]


def _calls(step: Any) -> list[Any]:
    """Every model-call record of a step: the graph's nodes and the optimizer's."""
    records: list[Any] = []
    seen: set[int] = set()
    stack = [step.root.grad_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        records.extend(node.calls)
        stack.extend(edge.node for edge in node.next_functions)
    return records + list(step.optimizer.last_step.calls)


def run(quick: bool) -> dict[str, Any]:
    batches = [1, 2] if quick else [1, 8, 32]
    latency = QUICK_LATENCY if quick else LATENCY
    workload = describe(batches, latency) + (
        "; every client with cache=<one temporary SQLite file>; run 2 = new clients on the same "
        "file, same prompts and questions"
    )
    print(f"workload: {workload}", flush=True)
    rows = []
    with (
        tempfile.TemporaryDirectory(prefix="afnio-bench-cache-") as tmp,
        ServerProcess(latency) as server,
    ):
        for batch in batches:
            path = str(Path(tmp) / f"responses-{batch}.sqlite")
            results = []
            for _ in range(2):
                pipeline = AfnioPipeline(server.base_url, server.api_key, cache=path)
                server.clear()
                step = pipeline.step(batch, f"cache-{batch}")
                records = _calls(step)
                results.append(
                    {
                        "wall": step.wall,
                        "requests": len(server.requests()),
                        "records": len(records),
                        "hits": sum(1 for r in records if r.cache_hit),
                    }
                )
            first, second = results
            rows.append(
                {
                    "batch": batch,
                    "model_calls": first["records"],
                    "run1_requests": first["requests"],
                    "run1_wall_s": round(first["wall"], 4),
                    "run2_requests": second["requests"],
                    "run2_cache_hits": second["hits"],
                    "run2_wall_s": round(second["wall"], 4),
                    "speedup": round(first["wall"] / second["wall"], 1),
                }
            )
            print(
                f"  batch {batch:>2}: run 1 {first['wall']:.3f} s ({first['requests']} requests), "
                f"run 2 {second['wall']:.3f} s ({second['requests']} requests)",
                flush=True,
            )
    return {
        "title": TITLE,
        "workload": workload,
        "target_run2_requests": 0,
        "rows": rows,
        "table": format_table(COLUMNS, rows),
    }
