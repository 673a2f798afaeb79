"""6. Saved notebooks: how much each view adds to an executed notebook, and how fast an HTML
export draws.

* **Size per view**: a notebook holding one ``GraphView`` of a 20-node graph (after
  ``backward()``, so with gradients) and the same notebook with more such views are executed by
  nbclient with ``store_widget_state=True`` (what JupyterLab's "Save Widget State
  Automatically" stores too); the difference in file size, divided by the number of views added,
  is what one more view costs. Also reported: what a ``TrainingView`` of 50 steps adds.
* **Load time**: the executed notebook with several views is exported with ``jupyter nbconvert
  --to html`` and opened in headless Chromium with nothing from the network (the widget scripts
  the page asks CDNs for are answered from local files); reported is the time from navigation to
  every view drawn, the median of a few loads.

``PYTHONPATH`` (and so the kernel's afnio) can point at another checkout to measure it the same
way: that is how the "before" figures in RESULTS.md were taken.
"""

from __future__ import annotations

import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks._report import format_table, unavailable
from tests.browser.jupyter_lab import (
    execute_notebook,
    export_html,
    launch_chromium,
    missing_prerequisites,
    route_widget_scripts,
    serve_folder,
)

NAME = "saved"
TITLE = "Saved notebooks: size per view, HTML export load time"

COLUMNS = [
    ("what", "notebook"),
    ("bytes", "file size (bytes)"),
    ("per_view_kb", "per added view (KB)"),
]
LOAD_COLUMNS = [
    ("views", "GraphViews"),
    ("html_kb", "HTML size (KB)"),
    ("drawn_s", "navigation to all drawn (s, median)"),
    ("loads", "loads"),
]

SETUP = "import afnio, afnio_widgets\nfrom afnio import Variable"
# x + q0 + ... + q5: 6 AddBackward0, 13 Variables and 1 AccumulateGrad = 20 nodes.
GRAPH = """\
x = Variable("first draft of the answer", role="draft", requires_grad=True)
y = x
for i in range(6):
    y = y + Variable(f"question {i}: what is the capital of country {i}?", role="question")
y.backward(Variable("Be much shorter and name the capital first.", role="feedback"))
view = afnio_widgets.GraphView(y, title="view")
assert len(view.graph["nodes"]) == 20
view"""
TRAINING = """\
training = afnio_widgets.TrainingView(title="run", track_calls=False)
for i in range(50):
    training.log_step({"loss": 1 / (i + 1), "accuracy": i / 50})
    if i % 10 == 0:
        training.log_parameter("system prompt", f"Answer briefly. Version {i}.")
training"""

_DRAWN = """(n) => {
    const views = [...document.querySelectorAll('.afnio-graphview')];
    return views.length === n && views.every((v) => v.dataset.layoutMs !== undefined);
}"""


def notebook_sizes(folder: Path, views: int) -> dict[str, int]:
    """File sizes of executed notebooks: one GraphView, ``views`` GraphViews, and one GraphView
    plus a TrainingView."""
    sizes = {}
    for name, cells in (
        ("one GraphView", [SETUP, GRAPH]),
        (f"{views} GraphViews", [SETUP, *[GRAPH] * views]),
        ("one GraphView + TrainingView", [SETUP, GRAPH, TRAINING]),
    ):
        path = folder / f"{name.replace(' ', '_').replace('+', 'and')}.ipynb"
        sizes[name] = execute_notebook(cells, path).stat().st_size
    return sizes


def load_time(html: Path, views: int, loads: int) -> float:
    """Median seconds from navigation to every view of the exported page drawn."""
    from playwright.sync_api import sync_playwright

    server, url = serve_folder(html.parent)
    times = []
    try:
        with sync_playwright() as p:
            browser = launch_chromium(p)
            try:
                for _ in range(loads):
                    context = browser.new_context(viewport={"width": 1400, "height": 1000})
                    route_widget_scripts(context)
                    page = context.new_page()
                    started = time.perf_counter()
                    page.goto(f"{url}/{html.name}")
                    page.wait_for_function(_DRAWN, arg=views, timeout=120_000)
                    times.append(time.perf_counter() - started)
                    context.close()
            finally:
                browser.close()
    finally:
        server.shutdown()
        server.server_close()
    return statistics.median(times)


def run(quick: bool) -> dict[str, Any]:
    views = 2 if quick else 5
    loads = 1 if quick else 3
    workload = (
        f"executed notebooks (nbclient, store_widget_state=True) with 1 and {views} GraphViews of "
        "a 20-node graph after backward(), and with a TrainingView of 50 steps; the "
        f"{views}-view notebook exported to HTML and loaded {loads} time(s) in headless "
        "Chromium, offline"
    )
    print(f"workload: {workload}", flush=True)
    reason = missing_prerequisites()
    if reason is not None:
        return unavailable(TITLE, workload, f"saved-notebook benchmark not run: {reason}", "load")
    with tempfile.TemporaryDirectory(prefix="afnio-saved-") as tmp:
        folder = Path(tmp)
        sizes = notebook_sizes(folder, views)
        one = sizes["one GraphView"]
        many = sizes[f"{views} GraphViews"]
        per_view = (many - one) / (views - 1)
        training = sizes["one GraphView + TrainingView"] - one
        rows = [
            {"what": "one GraphView", "bytes": one, "per_view_kb": None},
            {
                "what": f"{views} GraphViews",
                "bytes": many,
                "per_view_kb": round(per_view / 1024, 1),
            },
            {
                "what": "one GraphView + TrainingView",
                "bytes": sizes["one GraphView + TrainingView"],
                "per_view_kb": round(training / 1024, 1),
            },
        ]
        for row in rows:
            print(f"  {row}", flush=True)
        html = export_html(folder / f"{views}_GraphViews.ipynb")
        drawn = load_time(html, views, loads)
        load = [
            {
                "views": views,
                "html_kb": round(html.stat().st_size / 1024, 1),
                "drawn_s": round(drawn, 2),
                "loads": loads,
            }
        ]
        print(f"  {load[0]}", flush=True)
    table = format_table(COLUMNS, rows) + "\n\n" + format_table(LOAD_COLUMNS, load)
    return {
        "title": TITLE,
        "workload": workload,
        "status": "ok",
        "rows": rows,
        "load": load,
        "per_view_bytes": round(per_view),
        "notes": [],
        "table": table,
    }
