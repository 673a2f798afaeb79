"""notebooks/05_prompt_tuning_interactive.ipynb in JupyterLab: the PromptTuner's buttons,
clicked like a user, change the agent in the kernel."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import nbformat

REPO = Path(__file__).resolve().parents[2]
NOTEBOOKS = REPO / "notebooks"
DOCS_IMG = REPO / "docs" / "img"

HOSTILE = '<img src=x onerror="window.__pwned = 1">'
# The lowest contrast (WCAG 2) between each text and its background in the tuner; disabled
# controls are exempt, as in WCAG.
CONTRAST = """el => {
    const rgb = c => c.match(/[\\d.]+/g).map(Number);
    const lum = ([r, g, b]) => {
        const f = v => (v /= 255) <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4;
        return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b);
    };
    const background = node => {
        for (; node; node = node.parentElement) {
            const c = rgb(getComputedStyle(node).backgroundColor);
            if (c.length < 4 || c[3] > 0) return c;
        }
        return [255, 255, 255];
    };
    let worst = {ratio: 99, text: ""};
    const skipped = "button:disabled, .afnio-graphview, details:not([open]) > :not(summary)";
    const texts = [...el.querySelectorAll("*")].filter(n => [...n.childNodes].some(
        c => c.nodeType === 3 && c.textContent.trim()) && !n.closest(skipped)
        && n.getClientRects().length);
    for (const node of texts) {
        const [a, b] = [lum(rgb(getComputedStyle(node).color)), lum(background(node))];
        const ratio = (Math.max(a, b) + 0.05) / (Math.min(a, b) + 0.05);
        const text = node.className + ": " + node.textContent.slice(0, 40);
        if (ratio < worst.ratio) worst = {ratio, text};
    }
    return worst;
}"""
PROBE = "print(repr(agent.system_prompt.data), 'version', tuner.version)"


def _write_notebook(root: Path) -> tuple[str, list[int], int]:
    """Notebook 05 up to the tuner's cell, then a cell that prints the prompt in the kernel.

    Returns:
        The notebook's name, the indices of its code cells to run, and the probe cell's index.
    """
    nb = nbformat.read(NOTEBOOKS / "05_prompt_tuning_interactive.ipynb", as_version=4)
    end = next(i for i, c in enumerate(nb.cells) if "PromptTuner(agent" in c.source)
    nb.cells = [*nb.cells[: end + 1], nbformat.v4.new_code_cell(PROBE)]
    shutil.copy(NOTEBOOKS / "offline_models.py", root / "offline_models.py")
    shutil.copytree(NOTEBOOKS / "data", root / "data", dirs_exist_ok=True)
    nbformat.write(nb, root / "05.ipynb")
    code = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"]
    return "05.ipynb", code[:-1], code[-1]


def test_tuner_buttons_change_the_kernel(page, lab):
    path, cells, probe = _write_notebook(lab.root)
    page.open_notebook(path)
    for index in cells:
        page.run_cell(index, timeout=120_000)
    tuner = page.page.locator(f"{page.notebook} .afnio-tuner")
    tuner.wait_for()
    initial = _kernel_prompt(page, probe)
    assert "version 0" in initial

    def click(name: str) -> None:
        button = tuner.locator(f".afnio-tuner-{name}")
        button.wait_for()
        page.page.wait_for_function("b => !b.disabled", arg=button.element_handle())
        button.click()

    def metrics(run: int) -> str:
        line = tuner.locator(".afnio-tuner-results-box .afnio-tuner-metrics")
        line.filter(has_text=f"run {run} ").wait_for(timeout=60_000)
        return line.inner_text()

    rows = tuner.locator(".afnio-tuner-results > tbody > tr")

    # Run, Feedback, Step, then Reject: the prompt stays as it was.
    click("run")
    assert "accuracy 0.6667" in metrics(1)
    assert rows.count() == 6
    scores_before = rows.locator(".afnio-tuner-score").all_inner_texts()
    assert scores_before == ["1", "0", "1", "1", "0", "1"]
    click("feedback")
    tuner.locator(".afnio-tuner-from").first.wait_for()
    sources = tuner.locator(".afnio-tuner-from").all_inner_texts()
    assert sources == ["from example 1", "from example 4"]
    click("step")
    tuner.locator(".afnio-tuner-proposal ins").first.wait_for()
    click("reject")
    tuner.locator(".afnio-tuner-proposal").wait_for(state="detached")
    assert _kernel_prompt(page, probe) == initial

    # Run, Feedback, Step, Accept: the kernel's prompt changes and the scores rise.
    click("run")
    metrics(2)
    click("feedback")
    tuner.locator(".afnio-tuner-from").first.wait_for()
    click("step")
    tuner.locator(".afnio-tuner-proposal ins").first.wait_for()
    page.page.set_viewport_size({"width": 1400, "height": 1800})  # the whole tuner in view
    tuner.scroll_into_view_if_needed()
    shot = page.screenshot("prompttuner.png", tuner)
    page.page.set_viewport_size({"width": 1400, "height": 1000})
    # The run's graph, a GraphView nested in the tuner, with the model calls of every node.
    tuner.locator(".afnio-tuner-graph-toggle").click()
    graph = tuner.locator(".afnio-tuner-graph .afnio-graphview")
    graph.locator(".node").first.wait_for(timeout=30_000)
    graph.locator(".node", has_text="ChatCompletionBackward0").first.click()
    graph.locator(".afnio-panel .afnio-call").first.wait_for()
    click("accept")
    tuner.locator(".afnio-tuner-proposal").wait_for(state="detached")
    accepted = _kernel_prompt(page, probe)
    assert "polite message that reports a problem" in accepted and "version 1" in accepted
    run = tuner.locator(".afnio-tuner-run")  # this time from the keyboard
    page.page.wait_for_function("b => !b.disabled", arg=run.element_handle())
    run.focus()
    page.page.keyboard.press("Enter")
    assert "accuracy 1" in metrics(3)
    assert rows.locator(".afnio-tuner-score").all_inner_texts() == ["1"] * 6

    # Compare v0 with v1: two columns of outputs and scores, the differing examples first.
    tuner.locator("select.afnio-tuner-pick-0").select_option("0")
    tuner.locator("select.afnio-tuner-pick-1").select_option("1")
    click("compare")
    table = tuner.locator(".afnio-tuner-comparison")
    table.wait_for(timeout=60_000)
    headers = table.locator("th").all_inner_texts()
    assert headers[3:] == ["v0 output", "v0 score", "v1 output", "v1 score"]
    first = table.locator("tbody > tr").first.locator("td").all_inner_texts()
    assert first[0] == "1 ≠" and first[3:] == ["positive", "0", "negative", "1"]

    # An edited parameter reaches the kernel, as a new version.
    editor = tuner.locator(".afnio-tuner-param textarea.afnio-tuner-text")
    editor.fill(f"Classify the sentiment; {HOSTILE} <b>polite</b> complaints are negative.")
    click("set")
    page.page.wait_for_function(
        "el => el.querySelectorAll('.afnio-tuner-history > tbody > tr').length === 3",
        arg=tuner.element_handle(),
    )
    edited = _kernel_prompt(page, probe)
    assert f"'Classify the sentiment; {HOSTILE} <b>polite</b> complaints" in edited
    assert "version 2" in edited
    assert tuner.locator("b, img").count() == 0  # the text was shown as text
    assert page.page.evaluate("() => window.__pwned") is None
    light = tuner.evaluate(CONTRAST)
    assert light["ratio"] >= 4.5, light

    # A dark theme: the tuner follows JupyterLab's colours.
    page.page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme', "
        "{theme: 'JupyterLab Dark'})"
    )
    page.page.wait_for_function("() => document.body.dataset.jpThemeLight === 'false'")
    background = tuner.evaluate("el => getComputedStyle(el).backgroundColor")
    assert _luminance(background) < 0.2, background
    dark = tuner.evaluate(CONTRAST)
    assert dark["ratio"] >= 4.5, dark
    (page.artifacts / "tuner-contrast.json").write_text(json.dumps({"light": light, "dark": dark}))
    page.screenshot("prompttuner-dark.png", tuner)
    page.page.evaluate(
        "() => window.jupyterapp.commands.execute('apputils:change-theme', "
        "{theme: 'JupyterLab Light'})"
    )

    # The README screenshot: refreshed when missing or asked for (AFNIO_UPDATE_DOCS_IMG=1).
    target = DOCS_IMG / "prompttuner.png"
    if os.environ.get("AFNIO_UPDATE_DOCS_IMG") == "1" or not target.exists():
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, target)


def _luminance(css_color: str) -> float:
    """The relative luminance (0 black, 1 white) of an ``rgb(...)`` colour."""
    channels = [int(x) / 255 for x in css_color[css_color.index("(") + 1 : -1].split(",")[:3]]
    linear = [c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def _kernel_prompt(page, probe: int) -> str:
    page.run_cell(probe)
    return page.output_text(probe)
