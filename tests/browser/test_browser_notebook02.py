"""notebooks/02_visual_debugging.ipynb, run top to bottom in JupyterLab; README screenshots."""

from __future__ import annotations

import os
import shutil
import time
from pathlib import Path

from drawing_checks import LABEL_PX, OVERLAPS, low_contrast, set_theme
from playwright.sync_api import expect

REPO = Path(__file__).resolve().parents[2]
DOCS_IMG = REPO / "docs" / "img"

RUNNING = """() => {
    const panel = window.jupyterapp.shell.currentWidget;
    const cells = [...panel.content.model.cells].filter(c => c.type === 'code');
    const done = cells.filter(c => c.executionCount !== null).length;
    const errors = cells.flatMap(c => c.outputs.toJSON()).filter(o => o.output_type === 'error');
    const prompts = [...document.querySelectorAll('NOTEBOOK .jp-InputArea-prompt')];
    const running = prompts.filter(p => p.textContent.includes('*')).length;
    return {total: cells.length, done, running, errors: errors.map(e => e.ename + ': ' + e.evalue)};
}"""


def test_visual_debugging_notebook_runs_and_renders(page, lab):
    shutil.copy(REPO / "notebooks" / "02_visual_debugging.ipynb", lab.root / "02.ipynb")
    page.open_notebook("02.ipynb")
    started = time.monotonic()
    page.page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    state: dict = {}
    running = RUNNING.replace("NOTEBOOK", page.notebook)
    while time.monotonic() - started < 180:
        state = page.page.evaluate(running)
        if state["errors"] or (state["done"] == state["total"] and not state["running"]):
            break
        time.sleep(0.5)
    assert state["errors"] == []
    assert state["done"] == state["total"], state

    views = page.page.locator(f"{page.notebook} .afnio-graphview")
    assert views.count() == 7
    for i in range(views.count()):
        view = views.nth(i)
        view.locator(".node").first.wait_for(timeout=30_000)
        # nothing overlaps, and after Fit every label is readable (<= 100 nodes drawn)
        view.scroll_into_view_if_needed()
        overlaps = view.evaluate(OVERLAPS)
        assert overlaps["clashes"] == [], (i, overlaps)
        assert low_contrast(view) == [], i
        view.locator(".afnio-fit").click()
        if overlaps["nodes"] <= 100:
            assert view.evaluate(LABEL_PX) >= 9 - 0.01, i

    # the question-answering view: backward done, ChatCompletionBackward0 selected from Python
    qa = views.nth(1)
    qa.locator(".afnio-panel .afnio-call").first.wait_for()
    # The panel shows cut texts first and asks the kernel for the uncut ones: wait for them (on a
    # busy machine the kernel's answer comes well after the first paint).
    panel = qa.locator(".afnio-panel")
    expect(panel).to_contain_text("What is the capital of France?", timeout=60_000)
    expect(panel).to_contain_text("The capital of France is Paris.", timeout=60_000)
    assert qa.locator(".edge.has-grad").count() >= 1
    qa.scroll_into_view_if_needed()
    graph_png = page.screenshot("graphview.png", qa)

    training = page.page.locator(f"{page.notebook} .afnio-training")
    training.locator(".afnio-status-done").wait_for(timeout=30_000)
    assert training.locator("polyline").count() >= 1
    assert (
        "Reply with the city name only." in training.locator(".afnio-diff ins").first.inner_text()
    )
    training.scroll_into_view_if_needed()
    training_png = page.screenshot("trainingview.png", training)

    # JupyterLab Dark: every node still readable; screenshots for the docs
    set_theme(page.page, "JupyterLab Dark")
    for i in range(views.count()):
        assert low_contrast(views.nth(i)) == [], i
    qa.scroll_into_view_if_needed()
    graph_dark_png = page.screenshot("graphview-dark.png", qa)
    training.scroll_into_view_if_needed()
    training_dark_png = page.screenshot("trainingview-dark.png", training)
    set_theme(page.page, "JupyterLab Light")

    # The README screenshots: refreshed when missing or asked for (AFNIO_UPDATE_DOCS_IMG=1), so
    # that a test run does not leave the committed PNGs modified.
    DOCS_IMG.mkdir(parents=True, exist_ok=True)
    shots = (
        (graph_png, "graphview.png"),
        (training_png, "trainingview.png"),
        (graph_dark_png, "graphview-dark.png"),
        (training_dark_png, "trainingview-dark.png"),
    )
    for shot, name in shots:
        if os.environ.get("AFNIO_UPDATE_DOCS_IMG") == "1" or not (DOCS_IMG / name).exists():
            shutil.copy(shot, DOCS_IMG / name)
    (page.artifacts / "timings-notebook.txt").write_text(f"{time.monotonic() - started:.1f} s\n")
