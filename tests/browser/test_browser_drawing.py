"""The drawing is the graph, in JupyterLab with Chromium: a live trace ends with the drawing of a
fresh view of the same root, and every drawn edge has both ends."""

from __future__ import annotations

import time

SETUP = """
import time
import afnio, afnio_widgets
from afnio import Variable
from afnio_widgets import GraphView
"""

# Nodes by their text, edges by the texts of their ends: a live view and a fresh one give the
# same nodes other ids.
DRAWING = """(view) => {
  const text = (el) => el ? el.textContent : null;
  const byId = new Map(
    [...view.querySelectorAll('.node')].map((n) => [n.getAttribute('data-id'), n]));
  const nodes = [...byId.values()].map(text).sort();
  const edges = [...view.querySelectorAll('.edge')].map((e) => {
    const s = byId.get(e.getAttribute('data-source'));
    const t = byId.get(e.getAttribute('data-target'));
    return (s && t) ? text(s) + ' -> ' + text(t) : 'DANGLING ' + e.getAttribute('data-id');
  }).sort();
  const drawn = [...byId.values()].filter((n) => !n.classList.contains('group')).length;
  const status = text(view.querySelector('.afnio-status'));
  return {nodes, edges, shown: Number(view.dataset.shown), drawn, status};
}"""


def test_live_trace_of_300_ops_draws_what_a_fresh_view_draws(page, lab):
    path = lab.write_notebook(
        "live300.ipynb",
        [
            SETUP + "x = Variable('start', role='acc', requires_grad=True)\n"
            "with afnio_widgets.trace(title='live loop'):\n"
            "    for i in range(300):\n"
            "        x = x + Variable(str(i), role=f'c{i}')\n"
            "        time.sleep(0.01)",
            "GraphView(x, title='fresh')",
        ],
    )
    page.open_notebook(path)
    page.run_cell(0, timeout=120_000)
    page.run_cell(1)
    live = page.graph(0)
    fresh = page.graph(1)
    deadline = time.monotonic() + 30
    while True:
        a = live.evaluate(DRAWING)
        b = fresh.evaluate(DRAWING)
        if (a["nodes"], a["edges"]) == (b["nodes"], b["edges"]) or time.monotonic() > deadline:
            break
        time.sleep(0.25)
    assert a["nodes"] == b["nodes"]
    assert a["edges"] == b["edges"]
    assert not [e for e in a["edges"] if e.startswith("DANGLING")]
    assert len(a["nodes"]) >= 5 and any("chain of" in n for n in a["nodes"])
    assert a["shown"] == a["drawn"] == b["drawn"]
    assert f"{a['drawn']} of 902 nodes drawn" in a["status"]
