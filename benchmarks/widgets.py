"""5. Widget rendering in headless Chromium: time to a drawn graph, and live updates.

JupyterLab runs on 127.0.0.1 and Playwright drives Debian's Chromium through a notebook, as a
user would (click a cell, Shift+Enter).

* **Display to drawn**: the time from pressing Shift+Enter on a cell that displays a
  ``GraphView`` of a graph already built (the graph shape of the engine benchmark, sized to
  about 100, 1,000 and 5,000 view nodes: Variables and backward nodes) to the moment the view
  has laid the graph out and drawn it (its ``data-layout-ms`` is set). It includes the kernel
  making the view's snapshot, the comm messages, the bundle's render, the layout (Graphviz in a
  Web Worker) and the SVG. Once with the view's defaults (at most 300 nodes drawn, long chains
  and wide fans collapsed), once with everything drawn (``max_nodes`` above the size, no
  collapse).
* **Live updates**: a cell runs a loop of operations inside ``afnio_widgets.trace()``; a
  ``MutationObserver`` in the page timestamps every redraw of that view. Reported: redraws per
  second during the loop, the longest time without a redraw, how long after the loop the view
  showed the final graph, and the kernel's loop time with the live view against the same loop
  without it. Once at full speed, once paced (a short sleep per operation, as when each
  operation does real work).
* **The live loop of issue 13**: ``x = x + Variable(str(i), role=f"c{i}")`` with a 10 ms sleep,
  300 times, in ``trace()``: redraws per second and the kernel's slowdown, as above.
* **Operation to screen at 1,000 nodes**: in a live view that already holds about 1,000 nodes,
  ten more operations run half a second apart; for each, the time from the kernel's clock just
  after the operation to the first redraw whose graph includes it (``data-total``).
"""

from __future__ import annotations

import itertools
import json
import time
from pathlib import Path
from typing import Any

from benchmarks._report import format_table, unavailable
from tests.browser.jupyter_lab import JupyterLab, LabPage, launch_chromium, missing_prerequisites

REPO = Path(__file__).resolve().parent.parent
# Milliseconds: to run a cell (the setup builds graphs of thousands of nodes), and for the kernel
# to be idle again.
CELL_TIMEOUT = 300_000
IDLE_TIMEOUT = 120_000

NAME = "widgets"
TITLE = "Widget rendering in headless Chromium"

COLUMNS = [
    ("nodes", "view nodes"),
    ("mode", "options"),
    ("drawn_s", "display to drawn (s)"),
    ("layout_s", "of which layout (s)"),
    ("engine", "layout engine"),
    ("shown", "nodes drawn"),
]
LIVE_COLUMNS = [
    ("ops", "operations"),
    ("pace_ms", "pause per op (ms)"),
    ("loop_s", "loop with view (s)"),
    ("baseline_s", "loop without view (s)"),
    ("kernel_slowdown", "with / without"),
    ("redraws", "redraws during loop"),
    ("redraws_per_s", "redraws / s"),
    ("max_gap_s", "longest gap (s)"),
    ("catch_up_s", "final graph after loop (s)"),
]

LATENCY_COLUMNS = [
    ("nodes", "view nodes"),
    ("probes", "operations"),
    ("median_s", "operation to screen, median (s)"),
    ("max_s", "max (s)"),
    ("missed", "not seen"),
]

_SETUP = """\
import json, time
import afnio
import afnio_widgets
from afnio_widgets import GraphView
from benchmarks.engine_overhead import afnio_graph

SIZES = {sizes!r}
# The engine benchmark's block graph has 11 view nodes per block, plus the final sum.
roots = {{n: afnio_graph(max(1, round((n - 2) / 11))) for n in SIZES}}
counts = {{n: len(afnio_widgets.graph_to_dict(r)["nodes"]) for n, r in roots.items()}}
leaf = afnio.Variable("alpha", role="x", requires_grad=True)

def loop(ops, pace):
    for _ in range(ops):
        y = leaf + afnio.Variable("b", role="y")
        if pace:
            time.sleep(pace)

def chain(ops, pace):
    x = afnio.Variable("start", role="acc", requires_grad=True)
    for i in range(ops):
        x = x + afnio.Variable(str(i), role=f"c{{i}}")
        if pace:
            time.sleep(pace)
    return x

print(json.dumps(counts))
"""

_WARMUP = 'GraphView(afnio_graph(2), title="warm-up")'
_VIEW = "GraphView(roots[{n}], title='{n} nodes, {mode}'{options})"
_BASELINE = """\
t0 = time.time()
loop({ops}, {pace})
t1 = time.time()
print(json.dumps({{"start": t0, "end": t1}}))
"""
_LIVE = """\
t0 = time.time()
with afnio_widgets.trace(title="live") as live:
    loop({ops}, {pace})
t1 = time.time()
print(json.dumps({{"start": t0, "end": t1, "nodes": len(live.graph["nodes"])}}))
"""

_CHAIN_BASELINE = _BASELINE.replace("loop(", "chain(")
_CHAIN_LIVE = _LIVE.replace("loop(", "chain(")
_LATENCY = """\
marks = []
with afnio_widgets.trace(title="latency") as lat:
    x = chain({ops}, 0)
    lat.flush()
    time.sleep(2.0)
    for i in range({probes}):
        x = x + afnio.Variable(str(i), role="probe")
        t = time.time()
        marks.append((t, len(lat.graph["nodes"])))
        time.sleep(0.5)
print(json.dumps({{"marks": marks}}))
"""

_DRAWN = """(i) => {
    const cell = document.querySelectorAll('.jp-Notebook .jp-Cell')[i];
    const el = cell && cell.querySelector('.afnio-graphview');
    if (!el || el.dataset.layoutMs === undefined) return false;
    return {t: Date.now(), layoutMs: Number(el.dataset.layoutMs), shown: Number(el.dataset.shown),
            total: Number(el.dataset.total), engine: el.dataset.engine};
}"""

_OBSERVE = """() => {
    window.__afnioBench = [];
    for (const el of document.querySelectorAll('.afnio-graphview')) el.dataset.benchOld = '1';
    if (window.__afnioBenchObserver) window.__afnioBenchObserver.disconnect();
    const observer = new MutationObserver((mutations) => {
        for (const m of mutations) {
            const el = m.target;
            if (!el.classList || !el.classList.contains('afnio-graphview')) continue;
            if (el.dataset.benchOld === '1') continue;
            window.__afnioBench.push([Date.now(), Number(el.dataset.total)]);
        }
    });
    observer.observe(document.body,
                     {subtree: true, attributes: true, attributeFilter: ['data-rev']});
    window.__afnioBenchObserver = observer;
}"""


def _last_json(text: str) -> Any:
    for line in reversed(text.strip().splitlines()):
        line = line.strip()
        if line.startswith("{"):
            return json.loads(line)
    raise ValueError(f"no JSON line in the cell output: {text[-300:]!r}")


def _display(page: LabPage, index: int, timeout_s: float) -> dict[str, Any]:
    page.cell(index).locator(".jp-InputArea-editor").click()
    t0 = page.page.evaluate("() => Date.now()")
    page.page.keyboard.press("Shift+Enter")
    try:
        handle = page.page.wait_for_function(_DRAWN, arg=index, timeout=timeout_s * 1000)
    except Exception as exc:  # Playwright's TimeoutError
        page.wait_idle(IDLE_TIMEOUT)
        return {"drawn_s": None, "error": f"not drawn within {timeout_s:.0f} s ({exc!s:.80})"}
    drawn = handle.json_value()
    page.wait_idle(IDLE_TIMEOUT)
    return {
        "drawn_s": round((drawn["t"] - t0) / 1000, 3),
        "layout_s": round(drawn["layoutMs"] / 1000, 3),
        "engine": drawn["engine"],
        "shown": drawn["shown"],
        "total": drawn["total"],
    }


def _live(page: LabPage, baseline_cell: int, live_cell: int, ops: int, pace: float) -> Any:
    page.run_cell(baseline_cell, timeout=CELL_TIMEOUT)
    baseline = _last_json(page.output_text(baseline_cell))
    page.page.evaluate(_OBSERVE)
    page.run_cell(live_cell, timeout=CELL_TIMEOUT)
    kernel = _last_json(page.output_text(live_cell))
    # Wait until the view stops redrawing (1.5 s without a redraw), at most 120 s.
    deadline = time.monotonic() + 120
    count = -1
    while time.monotonic() < deadline:
        records = page.page.evaluate("() => window.__afnioBench")
        if len(records) == count and records and records[-1][1] >= kernel["nodes"]:
            break
        count = len(records)
        time.sleep(1.5)
    # What the live view shows now (an overlay says when a layout is running or failed).
    overlay = page.page.evaluate(
        """() => {
            const views = [...document.querySelectorAll('.afnio-graphview')]
                .filter((el) => el.dataset.benchOld !== '1');
            const el = views[views.length - 1];
            const overlay = el && el.querySelector('.afnio-overlay');
            return overlay && !overlay.hidden ? overlay.textContent : '';
        }"""
    )
    start, end = kernel["start"] * 1000, kernel["end"] * 1000
    times = [t for t, _ in records]
    during = [t for t in times if start <= t <= end]
    marks = [start, *during, end]
    final = next((t for t, total in records if total >= kernel["nodes"]), None)
    loop_s = (end - start) / 1000
    baseline_s = baseline["end"] - baseline["start"]
    return {
        "ops": ops,
        "pace_ms": round(pace * 1000, 1),
        "loop_s": round(loop_s, 3),
        "baseline_s": round(baseline_s, 3),
        "kernel_slowdown": round(loop_s / baseline_s, 2) if baseline_s > 0 else None,
        "redraws": len(during),
        "redraws_total": len(records),
        "redraws_per_s": round(len(during) / loop_s, 1) if loop_s > 0 else None,
        "max_gap_s": round(max(b - a for a, b in itertools.pairwise(marks)) / 1000, 3),
        "catch_up_s": None if final is None else round(max(0.0, final - end) / 1000, 3),
        "final_nodes": kernel["nodes"],
        "final_drawn_total": records[-1][1] if records else None,
        "overlay_at_end": overlay or None,
    }


def _latency(page: LabPage, cell: int) -> dict[str, Any]:
    page.page.evaluate(_OBSERVE)
    page.run_cell(cell, timeout=CELL_TIMEOUT)
    marks = _last_json(page.output_text(cell))["marks"]
    time.sleep(1.0)
    records = page.page.evaluate("() => window.__afnioBench")
    delays = []
    for t, nodes in marks:
        shown = next((r for r, total in records if total >= nodes and r >= t * 1000 - 50), None)
        delays.append(None if shown is None else max(0.0, shown - t * 1000) / 1000)
    seen = [d for d in delays if d is not None]
    return {
        "nodes": marks[0][1] if marks else None,
        "probes": len(marks),
        "missed": len(delays) - len(seen),
        "median_s": round(sorted(seen)[len(seen) // 2], 3) if seen else None,
        "max_s": round(max(seen), 3) if seen else None,
    }


def run(quick: bool) -> dict[str, Any]:
    sizes = [30, 100] if quick else [100, 1_000, 5_000]
    ops = 100 if quick else 1_000
    paces = [0.0] if quick else [0.0, 0.005]
    timeout_s = 60.0 if quick else 240.0
    workload = (
        f"GraphView of the engine benchmark's graph at about {', '.join(f'{n:,}' for n in sizes)}"
        " view nodes (defaults: at most 300 drawn, collapse on; and everything drawn), from "
        f"Shift+Enter to drawn; live trace() of a loop of {ops:,} operations "
        f"(x + Variable) at full speed{' and with 5 ms per operation' if len(paces) > 1 else ''}"
        "; JupyterLab + Playwright + headless Chromium"
    )
    print(f"workload: {workload}", flush=True)
    reason = missing_prerequisites()
    if reason is not None:
        return unavailable(TITLE, workload, f"widget benchmark not run: {reason}", "live")
    from playwright.sync_api import sync_playwright

    cells = [_SETUP.format(sizes=sizes), _WARMUP]
    plan: list[tuple[int, str, int]] = []
    for n in sizes:
        for mode, options in (
            ("defaults", ""),
            ("all drawn", f", max_nodes={n + 50}, collapse=False"),
        ):
            plan.append((len(cells), mode, n))
            cells.append(_VIEW.format(n=n, mode=mode, options=options))
    live_cells = []
    for pace in paces:
        live_cells.append((len(cells), len(cells) + 1, pace))
        cells.append(_BASELINE.format(ops=ops, pace=pace))
        cells.append(_LIVE.format(ops=ops, pace=pace))
    chain_cells = (len(cells), len(cells) + 1)
    chain_ops = 60 if quick else 300
    cells.append(_CHAIN_BASELINE.format(ops=chain_ops, pace=0.01))
    cells.append(_CHAIN_LIVE.format(ops=chain_ops, pace=0.01))
    latency_cell = len(cells)
    # Each operation of the chain adds 3 view nodes: about 1,000 nodes before the probes.
    cells.append(_LATENCY.format(ops=30 if quick else 333, probes=3 if quick else 10))

    rows: list[dict[str, Any]] = []
    live: list[dict[str, Any]] = []
    notes: list[str] = []
    # JupyterLab's default notebook windowing, as a user has it.
    lab = JupyterLab(pythonpath=[REPO], render_all_cells=False, startup_timeout=90)
    with lab, sync_playwright() as p:
        browser = launch_chromium(p)
        try:
            page = LabPage(browser.new_page(viewport={"width": 1400, "height": 1000}), lab)
            page.open_notebook(lab.write_notebook("bench.ipynb", cells), timeout=90_000)
            page.run_cell(0, timeout=CELL_TIMEOUT)
            counts = {int(k): v for k, v in _last_json(page.output_text(0)).items()}
            warm = _display(page, 1, timeout_s)
            if warm["drawn_s"] is None:
                raise RuntimeError(f"the warm-up view was not drawn: {warm['error']}")
            for index, mode, n in plan:
                result = _display(page, index, timeout_s)
                rows.append({"nodes": counts[n], "mode": mode, **result})
                if result["drawn_s"] is None:
                    notes.append(f"{counts[n]} nodes, {mode}: {result['error']}")
                print(f"  {counts[n]:>5} nodes, {mode}: {result['drawn_s']} s", flush=True)
            for baseline_cell, live_cell, pace in live_cells:
                live.append(_live(page, baseline_cell, live_cell, ops, pace))
                if live[-1]["final_drawn_total"] != live[-1]["final_nodes"]:
                    notes.append(
                        f"live view ({pace * 1000:.0f} ms per op) did not show the final graph "
                        f"within 120 s; its overlay said: {live[-1]['overlay_at_end']!r}"
                    )
                print(f"  live, {pace * 1000:.0f} ms per op: {live[-1]}", flush=True)
            chain_row = _live(page, *chain_cells, chain_ops, 0.01)
            chain_row["ops"] = f"{chain_ops} (x = x + c, issue 13)"
            live.append(chain_row)
            print(f"  live chain: {chain_row}", flush=True)
            latency = _latency(page, latency_cell)
            print(f"  operation to screen: {latency}", flush=True)
            if page.errors:
                notes.append(
                    f"{len(page.errors)} browser console errors, first: {page.errors[0][:200]}"
                )
        finally:
            browser.close()
    table = (
        format_table(COLUMNS, rows)
        + "\n\n"
        + format_table(LIVE_COLUMNS, live)
        + "\n\n"
        + format_table(LATENCY_COLUMNS, [latency])
    )
    return {
        "title": TITLE,
        "workload": workload,
        "status": "ok",
        "rows": rows,
        "live": live,
        "latency": latency,
        "notes": notes,
        "table": table,
    }
