"""Step through a backward pass: notebook 04's replay view, driven with the arrow keys and the
buttons; at each step the highlighted node and the gradient text it sent are checked."""

from __future__ import annotations

import shutil
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

DONE = """(sel) => {
    const panel = window.jupyterapp.shell.currentWidget;
    const cells = [...panel.content.model.cells].filter(c => c.type === 'code');
    const errors = cells.flatMap(c => c.outputs.toJSON()).filter(o => o.output_type === 'error');
    const running = [...document.querySelectorAll(sel + ' .jp-InputArea-prompt')]
        .filter(p => p.textContent.includes('*')).length;
    const done = cells.filter(c => c.executionCount !== null).length;
    return {total: cells.length, done, running, errors: errors.map(e => e.ename + ': ' + e.evalue)};
}"""

STATE = """(view) => {
    const current = view.querySelectorAll('.node.replay-current');
    const text = (el) => el ? el.textContent : null;
    return {
        current: [...current].map(text),
        concurrent: [...view.querySelectorAll('.node.replay-concurrent')].map(text),
        done: view.querySelectorAll('.node.replay-done').length,
        sent: [...view.querySelectorAll('.afnio-replay-sent')].map(text),
        sentEdges: view.querySelectorAll('.edge.replay-sent').length,
        label: text(view.querySelector('.afnio-replay-label')),
        info: text(view.querySelector('.afnio-replay-step')),
    };
}"""


def test_notebook_04_replays_its_backward_pass_step_by_step(page, lab):
    shutil.copy(REPO / "notebooks" / "04_teaching_autodiff.ipynb", lab.root / "04.ipynb")
    shutil.copy(REPO / "notebooks" / "offline_models.py", lab.root / "offline_models.py")
    page.open_notebook("04.ipynb")
    page.page.evaluate("() => window.jupyterapp.commands.execute('notebook:run-all-cells')")
    state: dict = {}
    started = time.monotonic()
    while time.monotonic() - started < 180:
        state = page.page.evaluate(DONE, page.notebook)
        if state["errors"] or (state["done"] == state["total"] and not state["running"]):
            break
        time.sleep(0.5)
    assert state["errors"] == [] and state["done"] == state["total"], state

    view = page.page.locator(f"{page.notebook} .afnio-graphview", has_text="replay").last
    view.locator(".node").first.wait_for()
    bar = view.locator(".afnio-replay")
    bar.wait_for()
    assert view.evaluate(STATE)["label"] == "4 steps"
    view.scroll_into_view_if_needed()
    view.locator(".afnio-svg").click(position={"x": 5, "y": 5})  # a click focuses the view
    assert view.evaluate("(v) => v.contains(document.activeElement)")

    # (node, gradients it sent, their text, steps marked done: the step running at the same
    # time as this one is marked as concurrent instead)
    expected = [
        ("SumBackward0", 2, "Both answers must be in Italian.", 0),
        ("ChatCompletionBackward0", 1, "The system prompt never says which language", 1),
        ("ChatCompletionBackward0", 1, "The system prompt never says which language", 1),
        ("AccumulateGrad", 0, None, 3),
    ]
    for i, (name, sent, text, done) in enumerate(expected):
        page.page.keyboard.press("ArrowRight")
        now = view.evaluate(STATE)
        assert now["label"] == f"step {i + 1} of 4"
        assert len(now["current"]) == 1 and now["current"][0].startswith(name), now
        assert now["done"] == done, now
        assert len(now["sent"]) == sent and now["sentEdges"] == sent, now
        if text:
            assert all(f"∇ {text}" in s for s in now["sent"]), now["sent"]
        if name == "ChatCompletionBackward0":
            # the two model calls ran at the same time: the other one is marked with this one
            assert [c.split("\n")[0][:23] for c in now["concurrent"]] == [name[:23]]
            assert "at the same time as step" in now["info"]
        if i == 1:
            page.screenshot("replay-step-2.png", view)

    page.page.keyboard.press("ArrowLeft")
    assert view.evaluate(STATE)["label"] == "step 3 of 4"
    # the model call is a click away: prompt and reply in the panel
    view.locator(".afnio-replay-calls").click()
    panel = view.locator(".afnio-panel")
    panel.locator(".afnio-call").first.wait_for()
    assert "<FEEDBACK>" in (panel.text_content() or "")  # the backward call's prompt
    view.locator(".afnio-replay-stop").click()
    assert view.evaluate(STATE)["current"] == []

    # play at 4x: it reaches the last step by itself
    view.locator(".afnio-replay-speed").select_option("4")
    view.locator(".afnio-replay-play").click()
    page.page.wait_for_function(
        "(v) => v.querySelector('.afnio-replay-label').textContent === 'step 4 of 4'",
        arg=view.element_handle(),
        timeout=15_000,
    )
