"""3. Engine overhead with no model: deterministic graphs of 1k, 10k and 100k nodes.

Graph shape, the same in afnio and in ``torch.autograd``: ``n / 5`` independent blocks, each
``x -> split -> (a, b) -> sum -> + y``, then one sum over every block's output. A block is 5
backward nodes: Split, Sum and Add, and the two leaves' AccumulateGrad (torch: Unbind, Add, Add
and two AccumulateGrad, on a 2-element ``x`` and a scalar ``y``); the final sum is one node in
afnio and Stack + Sum in torch. Nodes are counted by walking each graph. afnio's text stays the
same size at every depth (a chain of text ``+`` would grow its roles and feedback with depth:
that cost is the data's, not the engine's).

Reported: microseconds of CPU per node (best of several runs; the process's CPU time, which
holds on a machine shared with other work, where wall time does not) to build the graph
(forward) and to run ``backward()``; the scaling exponent ``k`` of ``time ~ nodes^k`` (least
squares on log-log; 1 is linear); afnio's Python memory (``tracemalloc``) at its peak, after the
build, after ``backward()`` without ``retain_graph`` (saved inputs are released, leaves gain
their gradients), once the graph is dropped, and what a second graph leaves behind; torch's time
per node as the reference of a mature engine (its memory is native, out of ``tracemalloc``'s
sight); at the largest size, the share of Python's cyclic garbage collector and a cProfile of
afnio.
"""

from __future__ import annotations

import gc
import math
import time
import tracemalloc
import warnings
from collections.abc import Callable
from typing import Any

from benchmarks import _profile
from benchmarks._report import format_table

NAME = "engine"
TITLE = "Engine overhead (no model)"

COLUMNS = [
    ("nodes", "nodes"),
    ("afnio_forward_us", "afnio build (us/node)"),
    ("afnio_backward_us", "afnio backward (us/node)"),
    ("torch_forward_us", "torch build (us/node)"),
    ("torch_backward_us", "torch backward (us/node)"),
    ("ratio_forward", "afnio/torch build"),
    ("ratio_backward", "afnio/torch backward"),
    ("peak_mib", "afnio peak (MiB)"),
    ("after_build_bytes_per_node", "after build (B/node)"),
    ("after_backward_bytes_per_node", "after backward (B/node)"),
    ("after_release_bytes", "after drop (B)"),
    ("growth_second_graph_bytes", "2nd graph adds (B)"),
]


def afnio_graph(blocks: int) -> Any:
    """Builds the afnio graph; returns its root."""
    import afnio
    import afnio.cognitive.functional as F

    outs = []
    for _ in range(blocks):
        x = afnio.Variable("alpha beta", role="x", requires_grad=True)
        y = afnio.Variable("!", role="y", requires_grad=True)
        a, b = F.split(x, " ")
        outs.append(F.add(F.sum([a, b]), y))
    return F.sum(outs)


def torch_graph(blocks: int) -> Any:
    """Builds the same shape in torch.autograd; returns its root."""
    import torch

    outs = []
    for _ in range(blocks):
        x = torch.tensor([1.0, 2.0], requires_grad=True)
        y = torch.tensor(3.0, requires_grad=True)
        a, b = x.unbind()
        outs.append((a + b) + y)
    return torch.stack(outs).sum()


def count_nodes(root_fn: Any) -> int:
    """Backward nodes reachable from ``root_fn`` (afnio or torch), leaves' accumulators
    included."""
    seen: set[int] = set()
    stack = [root_fn]
    while stack:
        node = stack.pop()
        if node is None or id(node) in seen:
            continue
        seen.add(id(node))
        stack.extend(edge[0] for edge in node.next_functions)
    return len(seen)


def _time(build: Callable[[int], Any], blocks: int, repeats: int) -> tuple[float, float, int]:
    """The best of ``repeats`` runs (as ``timeit`` reports: other processes only ever add
    time) in seconds to build and to run backward, and the node count."""
    forwards, backwards = [], []
    nodes = 0
    for _ in range(repeats):
        gc.collect()
        t0 = time.process_time()
        root = build(blocks)
        t1 = time.process_time()
        nodes = count_nodes(root.grad_fn)
        t2 = time.process_time()
        root.backward()
        t3 = time.process_time()
        forwards.append(t1 - t0)
        backwards.append(t3 - t2)
        del root
    return min(forwards), min(backwards), nodes


def _memory(blocks: int, nodes: int, second: bool) -> dict[str, Any]:
    """afnio's Python memory through one build and backward, measured by tracemalloc; with
    ``second``, another build, backward and drop tells whether anything accumulates from graph
    to graph."""
    gc.collect()
    tracemalloc.start()
    try:
        base = tracemalloc.get_traced_memory()[0]
        root = afnio_graph(blocks)
        after_build = tracemalloc.get_traced_memory()[0] - base
        root.backward()
        after_backward, peak = tracemalloc.get_traced_memory()
        after_backward -= base
        del root
        gc.collect()
        after_release = tracemalloc.get_traced_memory()[0] - base
        after_second = None
        if second:
            root = afnio_graph(blocks)
            root.backward()
            del root
            gc.collect()
            after_second = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    return {
        "peak_mib": round((peak - base) / 2**20, 2),
        "after_build_bytes_per_node": round(after_build / nodes),
        "after_backward_bytes_per_node": round(after_backward / nodes),
        "freed_by_backward_bytes_per_node": round((after_build - after_backward) / nodes),
        "after_release_bytes": after_release,
        "growth_second_graph_bytes": None if after_second is None else after_second - after_release,
    }


def slope(xs: list[float], ys: list[float]) -> float:
    """The least-squares slope of ``log(ys)`` against ``log(xs)``."""
    lx = [math.log(x) for x in xs]
    ly = [math.log(y) for y in ys]
    mx, my = sum(lx) / len(lx), sum(ly) / len(ly)
    num = sum((a - mx) * (b - my) for a, b in zip(lx, ly))
    den = sum((a - mx) ** 2 for a in lx)
    return num / den if den else float("nan")


def _gc_share(blocks: int) -> dict[str, Any]:
    """How much of afnio's time is Python's cyclic garbage collector: the same build and
    backward with the collector off, and the GC-tracked objects each node brings."""
    gc.collect()
    before = len(gc.get_objects())
    t0 = time.process_time()
    root = afnio_graph(blocks)
    t1 = time.process_time()
    tracked = len(gc.get_objects()) - before
    t2 = time.process_time()
    root.backward()
    t3 = time.process_time()
    del root
    gc.collect()
    gc.disable()
    try:
        t4 = time.process_time()
        root = afnio_graph(blocks)
        t5 = time.process_time()
        root.backward()
        t6 = time.process_time()
        del root
    finally:
        gc.enable()
    gc.collect()
    nodes = blocks * 5 + 1
    return {
        "nodes": nodes,
        "gc_tracked_objects_per_node": round(tracked / nodes, 1),
        "forward_s_gc_on": round(t1 - t0, 3),
        "forward_s_gc_off": round(t5 - t4, 3),
        "backward_s_gc_on": round(t3 - t2, 3),
        "backward_s_gc_off": round(t6 - t5, 3),
        "gc_share_forward": round(1 - (t5 - t4) / (t1 - t0), 2),
        "gc_share_backward": round(1 - (t6 - t5) / (t3 - t2), 2),
    }


def _micro_costs() -> dict[str, float]:
    """Microseconds of the per-node building blocks, measured alone (best of 5 x 20,000)."""
    import timeit

    import afnio
    from afnio.autodiff.graph import GraphEvent, Node

    node = Node()
    cases: dict[str, Callable[[], Any]] = {
        "graph_event": lambda: GraphEvent("node_started", node=node, backward_id=1),
        "node": Node,
        "variable": lambda: afnio.Variable("", role="feedback to x"),
    }
    try:
        from afnio._recording import recording_to

        def routed() -> None:
            with recording_to(node._record_call, "backward"):
                pass

        cases["recording_to"] = routed
    except ImportError:  # an internal helper: measured only while it exists
        pass
    return {
        name: round(min(timeit.repeat(fn, number=20_000, repeat=5)) / 20_000 * 1e6, 2)
        for name, fn in cases.items()
    }


def _profile_afnio(blocks: int) -> dict[str, Any]:
    gc.collect()
    with _profile.ThreadsProfile() as profile:
        root = afnio_graph(blocks)
        root.backward()
    del root
    stats = profile.stats()
    cpu = _profile.total(stats)
    packages = _profile.by_package(stats, top=100)
    # Two costs paid per node whatever the graph: graph events built for observers (frozen
    # dataclasses, whose generated __init__ is in "<string>"), and the context manager that
    # routes model-call records (contextlib plus afnio._recording).
    events = _profile.cumulative(stats, "<string>", ("__init__",))
    recording = sum(
        p["seconds"] for p in packages if p["package"] in ("stdlib:contextlib", "afnio._recording")
    )
    return {
        "nodes": blocks * 5 + 1,
        "cpu_s": round(cpu, 3),
        "graph_event_share": round(events / cpu, 3) if cpu else None,
        "recording_context_share": round(recording / cpu, 3) if cpu else None,
        "by_package": _profile.by_package(stats, top=8),
        "top_tottime": _profile.top_functions(stats, top=15, key="tottime", root="afnio/"),
        "top_cumtime": _profile.top_functions(stats, top=25, key="cumtime", root="afnio/"),
    }


def run(quick: bool) -> dict[str, Any]:
    sizes = [50, 200] if quick else [1_000, 10_000, 100_000]
    repeats = {50: 2, 200: 2, 1_000: 5, 10_000: 3, 100_000: 2}
    workload = (
        f"graphs of {', '.join(f'{n:,}' for n in sizes)} nodes: n/5 blocks of "
        "x -> split -> sum -> + y, then one sum over the blocks; build then backward() without "
        "retain_graph; best of 5/3/2 runs; same shapes in torch.autograd (2-element x, scalar "
        "y); tracemalloc in a separate run; at the largest size, once more with the cyclic GC "
        "off, and a cProfile of afnio"
    )
    print(f"workload: {workload}", flush=True)
    warnings.filterwarnings("ignore", message="Failed to initialize NumPy")
    import torch

    torch.set_num_threads(1)
    afnio_graph(10).backward()  # imports and the engine thread, outside the measurements
    torch_graph(10).backward()
    rows = []
    for n in sizes:
        blocks = n // 5
        af, ab, a_nodes = _time(afnio_graph, blocks, repeats[n])
        tf, tb, t_nodes = _time(torch_graph, blocks, repeats[n])
        row: dict[str, Any] = {
            "nodes": a_nodes,
            "torch_nodes": t_nodes,
            "afnio_forward_us": round(af / a_nodes * 1e6, 2),
            "afnio_backward_us": round(ab / a_nodes * 1e6, 2),
            "torch_forward_us": round(tf / t_nodes * 1e6, 2),
            "torch_backward_us": round(tb / t_nodes * 1e6, 2),
            "afnio_forward_s": round(af, 4),
            "afnio_backward_s": round(ab, 4),
            "torch_forward_s": round(tf, 4),
            "torch_backward_s": round(tb, 4),
        }
        row["ratio_forward"] = round(row["afnio_forward_us"] / row["torch_forward_us"], 2)
        row["ratio_backward"] = round(row["afnio_backward_us"] / row["torch_backward_us"], 2)
        row.update(_memory(blocks, a_nodes, second=n != sizes[-1]))
        rows.append(row)
        print(
            f"  {a_nodes:>7,} nodes: afnio {af:.2f} s + {ab:.2f} s, torch {tf:.2f} s + {tb:.2f} s",
            flush=True,
        )
    nodes = [float(r["nodes"]) for r in rows]
    scaling = {
        "afnio_forward": round(slope(nodes, [r["afnio_forward_s"] for r in rows]), 3),
        "afnio_backward": round(slope(nodes, [r["afnio_backward_s"] for r in rows]), 3),
        "torch_forward": round(slope(nodes, [r["torch_forward_s"] for r in rows]), 3),
        "torch_backward": round(slope(nodes, [r["torch_backward_s"] for r in rows]), 3),
    }
    garbage = _gc_share(sizes[-1] // 5)
    micro = _micro_costs()
    profile = _profile_afnio(sizes[-1] // 5)
    table = format_table(COLUMNS, rows)
    table += "\n\nscaling exponent k (time ~ nodes^k): " + ", ".join(
        f"{k} {v}" for k, v in scaling.items()
    )
    table += (
        f"\ncyclic GC at {garbage['nodes']:,} nodes: {garbage['gc_tracked_objects_per_node']} "
        f"tracked objects per node; {garbage['gc_share_forward']:.0%} of the build and "
        f"{garbage['gc_share_backward']:.0%} of backward (timed again with gc disabled)"
    )
    table += "\nbuilding blocks alone (us): " + ", ".join(f"{k} {v}" for k, v in micro.items())
    return {
        "title": TITLE,
        "workload": workload,
        "rows": rows,
        "scaling_exponent": scaling,
        "garbage_collector": garbage,
        "micro_costs_us": micro,
        "profile": profile,
        "table": table,
    }
