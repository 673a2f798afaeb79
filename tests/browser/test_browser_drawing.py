"""The drawing is the graph, in JupyterLab with Chromium: a live trace ends with the drawing of a
fresh view of the same root, and every drawn edge has both ends."""

from __future__ import annotations

import time

from drawing_checks import LABEL_PX, OVERLAPS, low_contrast, set_theme

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


THEMED = """
from afnio.cognitive import Parameter
import afnio.cognitive.functional as F
x = Variable('first draft', role='draft', requires_grad=True)
p = Parameter('Answer briefly.', role='instruction')
questions = [Variable(f'question {i}', role='question') for i in range(12)]
with afnio_widgets.trace(title='every kind of node') as view:
    y = x + p
    total = F.sum([y + q for q in questions])
    with afnio.no_grad():
        z = total + x
total.backward(Variable('Be much shorter.', role='feedback'))
"""


def test_readable_in_light_and_dark_keeps_zoom_and_nothing_overlaps(page, lab):
    path = lab.write_notebook(
        "themes.ipynb",
        [SETUP + THEMED, "view.selected = view.node_id(x)", "view.selected = ''"],
    )
    page.open_notebook(path)
    page.run_cell(0)
    view = page.graph(0)
    page.page.wait_for_selector(".afnio-graphview .afnio-badge")
    kinds = view.evaluate(
        "(v) => [...v.querySelectorAll('.node')].map((n) => n.getAttribute('class')).join(' ')"
    )
    for kind in ("leaf", "param", "const", "fn", "acc", "no-grad", "group", "state-done"):
        assert kind in kinds.split(), kind

    view.locator(".afnio-fit").click()
    assert view.evaluate(LABEL_PX) >= 9
    before = view.evaluate("(v) => v.querySelector('.afnio-viewport').getAttribute('transform')")
    page.run_cell(1)  # selects the leaf from Python: the panel opens
    view.locator(".afnio-panel:not([hidden])").wait_for()
    page.page.wait_for_timeout(300)
    after = view.evaluate("(v) => v.querySelector('.afnio-viewport').getAttribute('transform')")
    assert before.split("scale")[1] == after.split("scale")[1]  # the zoom is kept
    assert view.locator(".node.selected").count() == 1

    overlaps = view.evaluate(OVERLAPS)
    assert overlaps["badges"] >= 3 and overlaps["clashes"] == []
    for theme in ("JupyterLab Light", "JupyterLab Dark"):
        set_theme(page.page, theme)
        assert low_contrast(view) == [], theme
        page.screenshot(f"graphview-{theme.split()[1].lower()}.png", view)
    set_theme(page.page, "JupyterLab Light")


def test_switches_show_the_kernels_value_after_any_clicks(page, lab):
    path = lab.write_notebook(
        "switches.ipynb",
        [
            SETUP + "x = Variable('a', role='leaf', requires_grad=True)\n"
            "y = x + Variable('b', role='other')\n"
            "view = GraphView(y)\n"
            "print(view.node_id(x), view.node_id(y))\n"
            "view",
            "print('kernel:', x.requires_grad, y.requires_grad)",
        ],
    )
    page.open_notebook(path)
    page.run_cell(0)
    leaf, root = page.output_text(0).split()[:2]
    view = page.graph(0)
    panel = view.locator(".afnio-panel")
    switch = panel.locator("input.afnio-requires-grad")

    view.locator(f".node[data-id='{leaf}']").click()
    # A click asks for the opposite of what the switch shows (the kernel's value), so clicks
    # made before the kernel answers ask for the same value: where the leaf ends depends on
    # timing, but the switch always ends showing it.
    for pauses in ((0, 0, 40, 0, 150, 10, 0), (600,), (0, 0), (400, 0, 400)):
        for pause in pauses:
            panel.locator(".afnio-switch").click()
            page.page.wait_for_timeout(pause)
        page.page.wait_for_timeout(800)
        page.run_cell(1)
        kernel = page.output_text(1).split()
        assert switch.is_checked() is (kernel[1] == "True"), (pauses, kernel)
    # one click, answered: the leaf changes, and the switch with it
    before = switch.is_checked()
    panel.locator(".afnio-switch").click()
    page.page.wait_for_timeout(800)
    page.run_cell(1)
    assert page.output_text(1).split()[1] == str(not before)
    assert switch.is_checked() is (not before)

    view.locator(f".node[data-id='{root}']").click()
    panel.locator(".afnio-toggle-error").wait_for(state="detached")
    for pause in (0, 300, 0, 300):
        panel.locator(".afnio-switch").click()
        page.page.wait_for_timeout(pause)
        assert switch.is_checked() is True  # a non-leaf refuses: the switch never moves
    panel.locator(".afnio-toggle-error").wait_for()
    page.run_cell(1)
    assert page.output_text(1).split()[2] == "True"
    assert switch.is_checked() is True


def test_bidi_controls_show_and_panel_text_wraps_between_words(page, lab):
    sentence = "two million tokens of context are not enough for this sentence, it wraps " * 3
    path = lab.write_notebook(
        "text.ipynb",
        [
            SETUP + f"v = Variable({sentence!r}, role='\\u202eevil ' + 'x' * 3000,"
            " requires_grad=True)\n"
            "w = v + Variable('b', role='other')\n"
            "view = GraphView(w)\n"
            "view.selected = view.node_id(v)\n"
            "view",
        ],
    )
    page.open_notebook(path)
    page.run_cell(0)
    view = page.graph(0)
    assert "⟨U+202E⟩evil" in (view.locator(".node.leaf").text_content() or "")
    panel = view.locator(".afnio-panel:not([hidden])")
    panel.wait_for()
    assert "⟨U+202E⟩evil" in panel.locator(".afnio-panel-title").inner_text()
    width = panel.evaluate("(p) => [p.scrollWidth, p.clientWidth]")
    assert width[0] <= width[1] + 1, width
    broken = panel.evaluate(
        """(p) => {
          const pre = p.querySelector('.afnio-data');
          const text = pre.firstChild;
          const broken = [];
          const re = /\\S+/g;
          let m;
          while ((m = re.exec(text.data))) {
            const r = document.createRange();
            r.setStart(text, m.index);
            r.setEnd(text, m.index + m[0].length);
            // (a range that starts at a soft wrap also gets an empty rect on the line before)
            const rects = [...r.getClientRects()].filter((b) => b.width > 0.5);
            const lines = new Set(rects.map((b) => Math.round(b.top)));
            if (lines.size > 1) broken.push(m[0]);
          }
          return broken;
        }"""
    )
    assert broken == []


BATCH = """
from afnio.cognitive import Parameter
import afnio.cognitive.functional as F
prompt = Parameter('Answer in one word.', role='instruction')
def batch(n):
    questions = [Variable(f'Question number {i}?', role='question') for i in range(n)]
    return F.sum([prompt + q for q in questions])
small = batch(32)
view = GraphView(small, collapse=False, title='100 nodes')
small.backward(Variable('Require a one-word answer.', role='feedback'))
print(len(view.graph['nodes']))
view
"""


def test_batch_graphs_are_readable_without_overlaps_and_wide_fans_open_in_rows(page, lab):
    path = lab.write_notebook(
        "batch.ipynb",
        [SETUP + BATCH, "big = batch(334)\nwide = GraphView(big, title='1,003 nodes')\nwide"],
    )
    page.open_notebook(path)
    page.run_cell(0)
    assert page.output_text(0).split()[0] == "100"
    view = page.graph(0)
    view.locator(".afnio-badge").first.wait_for()
    view.locator(".afnio-fit").click()
    assert view.evaluate(LABEL_PX) >= 9
    overlaps = view.evaluate(OVERLAPS)
    assert overlaps["nodes"] == 100 and overlaps["badges"] >= 32, overlaps
    assert overlaps["clashes"] == []
    badge = view.locator(".afnio-badge text").first.text_content() or ""
    assert badge.startswith("∇ Require a one-word"), badge

    page.run_cell(1)
    wide = page.graph(1)
    group = wide.locator(".node.group", has_text="+331 more inputs")
    group.click()
    wide.locator(".node.group", has_text="+307 more inputs").wait_for()
    rows = wide.evaluate(
        """(v) => {
          const sum = [...v.querySelectorAll('.edge')].filter((e) =>
            v.querySelector(`.node[data-id="${e.dataset.source}"]`).textContent.startsWith('SumBackward0'));
          const ys = sum.map((e) => v.querySelector(`.node[data-id="${e.dataset.target}"]`)
            .transform.baseVal[0].matrix.f);
          const rows = new Map();
          for (const y of ys) rows.set(Math.round(y), (rows.get(Math.round(y)) || 0) + 1);
          return [...rows.values()];
        }"""
    )
    assert sum(rows) == 28 and max(rows) <= 12, rows
    wide.locator(".afnio-fit").click()
    assert wide.evaluate(LABEL_PX) >= 9
