"""GraphView in JupyterLab (and one in Notebook 7), driven like a user with Chromium."""

from __future__ import annotations

import json
import re
import time

from drawing_checks import LABEL_PX

SETUP = """
import afnio, afnio_widgets
from afnio import Variable
from afnio_widgets import GraphView
"""


def test_click_shows_gradients_and_switches_change_the_kernel(page, lab):
    path = lab.write_notebook(
        "click.ipynb",
        [
            SETUP + "x = Variable('first draft', role='draft', requires_grad=True)\n"
            "y = x + Variable(' and more', role='suffix')\n"
            "view = GraphView(y, title='click test')\n"
            "print(view.node_id(x), view.node_id(y))\n"
            "view",
            "y.backward(Variable('Be much shorter.', role='feedback'))",
            "print('requires_grad:', x.requires_grad)",
        ],
    )
    page.open_notebook(path)
    page.run_cell(0)
    leaf, root = page.output_text(0).split()[:2]
    view = page.graph()
    started = time.monotonic()
    page.run_cell(1)
    page.page.wait_for_selector(".afnio-graphview[data-backward='done'] .edge.has-grad")
    backward_ms = (time.monotonic() - started) * 1000

    view.locator(f".node[data-id='{leaf}']").click()
    panel = view.locator(".afnio-panel")
    panel.locator(".afnio-gradients .afnio-grad").first.wait_for()
    assert "Be much shorter." in panel.locator(".afnio-gradients").inner_text()
    assert view.locator(f".node[data-id='{leaf}'].has-grad").count() == 1
    page.screenshot("graphview-click.png", view)

    # the leaf's switch changes the kernel's Variable
    panel.locator(".afnio-switch").click()
    page.run_cell(2)
    assert "requires_grad: False" in page.output_text(2)

    # a non-leaf refuses, with afnio's own error in the panel
    view.locator(f".node[data-id='{root}']").click()
    panel.locator(".afnio-switch").click()
    error = panel.locator(".afnio-toggle-error")
    error.wait_for()
    assert "You can only change `requires_grad` flags of leaf variables" in error.inner_text()
    assert panel.locator("input.afnio-requires-grad").is_checked()  # flipped back
    (page.artifacts / "timings-backward.json").write_text(
        json.dumps({"backward_to_edges_ms": backward_ms})
    )


def test_no_grad_magic_and_grad_mode_toggle(page, lab):
    path = lab.write_notebook(
        "nograd.ipynb",
        [
            SETUP + "%load_ext afnio_widgets\nx = Variable('a', role='x', requires_grad=True)",
            "%%no_grad\nz = x + x",
            "print('no graph:', z.grad_fn is None, z.requires_grad)",
            "toggle = afnio_widgets.GradModeToggle()\ntoggle",
            "w = x + x\n"
            "print('grad mode:', afnio.is_grad_enabled(), 'graph:', w.grad_fn is not None)",
            "%%afnio_trace -o mixed\nu = x + x\nwith afnio.no_grad():\n    v = u + x",
        ],
    )
    page.open_notebook(path)
    for i in range(3):
        page.run_cell(i)
    assert "no graph: True False" in page.output_text(2)

    page.run_cell(3)
    switch = page.page.locator(".afnio-gradmode[data-kernel='connected']")
    switch.wait_for()
    assert page.page.locator("input.afnio-grad-mode").is_checked()
    switch.click()
    page.run_cell(4)
    assert "grad mode: False graph: False" in page.output_text(4)
    switch.click()
    page.run_cell(4)
    assert "grad mode: True graph: True" in page.output_text(4)

    # a traced cell marks what ran without grad
    page.run_cell(5)
    view = page.graph()
    view.locator(".node.no-grad").first.wait_for()
    assert view.locator(".node.fn.no-grad").count() == 1
    page.screenshot("graphview-no-grad.png", view)


def test_a_live_view_grows_while_the_cell_runs(page, lab):
    path = lab.write_notebook(
        "live.ipynb",
        [
            SETUP + "%load_ext afnio_widgets\nimport time",
            "%%afnio_trace -o live --title live\n"
            "x = Variable('a', role='x', requires_grad=True)\n"
            "for i in range(40):\n"
            "    x = x + Variable(str(i), role='number')\n"
            "    time.sleep(0.1)",
            "print(len(live.graph['nodes']))",
        ],
    )
    page.open_notebook(path)
    page.run_cell(0)
    page.run_cell(1, wait=False)
    seen = []
    deadline = time.monotonic() + 30
    prompt = page.cell(1).locator(".jp-InputArea-prompt")
    # (ipykernel may report "idle" while the cell runs: it answers widget messages on another
    # thread; the execution count is what says the cell finished.)
    while time.monotonic() < deadline and not re.search(r"\[\d+\]", prompt.inner_text()):
        total = page.page.evaluate(
            "() => { const v = document.querySelector('.afnio-graphview');"
            " return v ? Number(v.dataset.total || 0) : 0; }"
        )
        if total and (not seen or total != seen[-1]):
            seen.append(total)
        time.sleep(0.15)
    page.wait_executed(1)
    assert len(seen) >= 3, f"the view did not grow while the loop ran: {seen}"
    assert seen == sorted(seen)
    page.run_cell(2)
    final = int(page.output_text(2).strip())
    view = page.graph()
    view.locator(".node").first.wait_for()
    page.page.wait_for_function(
        "n => Number(document.querySelector('.afnio-graphview').dataset.total) === n", arg=final
    )
    rev = int(view.get_attribute("data-rev") or 0)
    assert rev <= 60, f"{rev} graph updates for a 4-second loop: updates are not throttled"
    page.screenshot("graphview-live.png", view)


PAYLOADS = [
    "<script>window.__pwned = 1; alert('script')</script>",
    "<img src=x onerror=\"window.__pwned = 2; alert('img')\">",
    "javascript:alert('js')",
    '</svg><svg onload="window.__pwned = 4; alert(4)">',
    "</text></g><b>bold?</b><script>alert(5)</script>",
]


def test_hostile_strings_show_as_text_and_nothing_runs(page, lab):
    path = lab.write_notebook(
        "hostile.ipynb",
        [
            SETUP + f"P = {PAYLOADS!r}\n"
            "v = Variable(P[0], role=P[1], requires_grad=True)\n"
            "w = Variable([P[2], P[3]], role=P[3])\n"
            "out = v + Variable(P[4], role=P[2])\n"
            "out.backward(Variable(P[4] + P[1], role=P[0]))\n"
            "view = GraphView([out, w + w], title=P[1])\n"
            "view",
        ],
    )
    page.open_notebook(path)
    page.run_cell(0)
    view = page.graph()
    assert view.locator(".afnio-title").inner_text() == PAYLOADS[1]
    texts = []
    for i in range(view.locator(".node").count()):
        view.locator(".node").nth(i).click()
        texts.append(view.locator(".afnio-panel").inner_text())
    panel_text = "\n".join(texts)
    for payload in PAYLOADS:
        assert payload in panel_text, payload
    checks = page.page.evaluate(
        """() => {
            const root = document.querySelector('.afnio-graphview');
            return {
                pwned: window.__pwned === undefined ? null : window.__pwned,
                scripts: root.querySelectorAll('script').length,
                images: root.querySelectorAll('img').length,
                bold: root.querySelectorAll('b').length,
                svgs: root.querySelectorAll('svg').length,
                handlers: [...root.querySelectorAll('*')].filter(
                    el => el.getAttributeNames().some(a => a.startsWith('on'))).length,
            };
        }"""
    )
    assert checks == {"pwned": None, "scripts": 0, "images": 0, "bold": 0, "svgs": 1, "handlers": 0}
    page.screenshot("graphview-hostile.png", view)


def test_a_large_graph_collapses_and_expands(page, lab):
    path = lab.write_notebook(
        "large.ipynb",
        [
            SETUP + "x = Variable('a', role='x', requires_grad=True)\n"
            "parts = []\n"
            "for i in range(340):\n"
            "    x = x + Variable(str(i), role='n')\n"
            "    parts.append(x + Variable('!', role='mark'))\n"
            "total = afnio.cognitive.functional.sum(parts)\n"
            "view = GraphView(total, title='large', max_nodes=300)\n"
            "print(len(view.graph['nodes']))\n"
            "view",
        ],
    )
    page.open_notebook(path)
    started = time.monotonic()
    page.run_cell(0)
    view = page.graph()
    to_svg_ms = (time.monotonic() - started) * 1000
    total = int(page.output_text(0).split()[0])
    assert total > 1000
    assert int(view.get_attribute("data-total")) == total
    shown = int(view.get_attribute("data-shown"))
    assert shown <= 300
    layout_ms = int(view.get_attribute("data-layout-ms"))
    # after Fit, the drawing lies inside the canvas, or (too large for readable labels) starts
    # at its top with labels at the smallest size Fit allows (9 px, or 4.5 px above 100 drawn
    # nodes)
    view.locator(".afnio-fit").click()
    box = page.page.evaluate(
        """() => {
            const root = document.querySelector('.afnio-graphview');
            const canvas = root.querySelector('.afnio-canvas').getBoundingClientRect();
            const drawing = root.querySelector('.afnio-viewport').getBoundingClientRect();
            return [canvas.left <= drawing.left + 1, canvas.top <= drawing.top + 1,
                    canvas.right >= drawing.right - 1, canvas.bottom >= drawing.bottom - 1];
        }"""
    )
    label_px = view.evaluate(LABEL_PX)
    smallest = 9 if view.locator(".node").count() <= 100 else 4.5
    assert box == [True, True, True, True] or (box[1] and abs(label_px - smallest) < 0.05), box
    assert label_px >= smallest - 0.05
    page.screenshot("graphview-large.png", view)
    group = view.locator(".node.group").first
    group.click()
    page.page.wait_for_function(
        "n => Number(document.querySelector('.afnio-graphview').dataset.shown) > n", arg=shown
    )
    (page.artifacts / "timings-large.json").write_text(
        json.dumps(
            {"nodes": total, "drawn": shown, "cell_to_svg_ms": to_svg_ms, "layout_ms": layout_ms}
        )
    )


def test_notebook7(page, lab):
    path = lab.write_notebook(
        "nb7.ipynb",
        [
            SETUP + "x = Variable('text', role='prompt', requires_grad=True)\n"
            "y = x + x\ny.backward(Variable('shorter', role='feedback'))\n"
            "view = GraphView(y, title='notebook 7')\nview",
        ],
    )
    page.page.goto(f"{lab.url}/tree")
    page.page.wait_for_selector(".jp-DirListing-item", timeout=60_000)
    page.page.wait_for_load_state("networkidle")  # leaving /tree mid-start makes it throw
    page.open_notebook(path, app="notebook")
    page.run_cell(0)
    view = page.graph()
    view.locator(".node.leaf").click()
    assert "shorter" in view.locator(".afnio-panel .afnio-gradients").inner_text()
    page.screenshot("notebook7.png", view)
