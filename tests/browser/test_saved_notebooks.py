"""Executed, saved and exported notebooks show their widgets without a kernel.

A notebook with two ``GraphView`` (one after ``backward()``, one full of hostile strings) and a
``TrainingView`` is executed by nbclient with ``store_widget_state=True``. Then, with no cell
run:

* it is opened in JupyterLab and in Notebook 7: the views draw the saved graph (node names, a
  gradient badge), a click on a node shows its gradient, the switches are off with the saved-copy
  note, the training chart is drawn;
* ``jupyter nbconvert --to html`` exports it, and Chromium opens the HTML with nothing from the
  network: the scripts the page asks a CDN for (require.js, the ``@jupyter-widgets/html-manager``
  embed script, anywidget's front-end) are answered from local files (``node_modules`` and the
  installed anywidget package), everything else is refused;
* in both, the hostile strings show as text and nothing runs.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.jupyter_lab import (
    execute_notebook,
    export_html,
    route_widget_scripts,
    serve_folder,
)

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "browser"

PAYLOADS = [
    "<script>window.__pwned = 'script'</script>",
    "<img src=x onerror=\"window.__pwned = 'img'\">",
    "</svg></g><script>window.__pwned = 'breakout'</script><svg>",
    "javascript:window.__pwned='url'",
    "<details open ontoggle=\"window.__pwned='toggle'\">x</details>",
]

CELLS = [
    "import afnio, afnio_widgets\nfrom afnio import Variable\nP = " + json.dumps(PAYLOADS),
    "x = Variable('first draft', role='draft', requires_grad=True)\n"
    "y = x + Variable(' and more', role='suffix')\n"
    "view = afnio_widgets.GraphView(y, title='saved graph')\n"
    "view",
    # a later cell changes the first view: the saved state is its final state
    "y.backward(Variable('Be much shorter.', role='feedback'))",
    "h = Variable(P[0], role=P[1], requires_grad=True)\n"
    "out = h + Variable(P[2], role=P[4])\n"
    "out.backward(Variable(P[4] + P[1], role=P[0]))\n"
    "w = Variable([P[2], P[3]], role=P[3])\n"
    "afnio_widgets.GraphView([out, w + w], title=P[1])",
    "training = afnio_widgets.TrainingView(title='saved run', track_calls=False)\n"
    "training.log_parameter('system prompt', 'Answer.')\n"
    "for i in range(4):\n"
    "    training.log_step({'loss': 1 / (i + 1)})\n"
    "training.log_parameter('system prompt', 'Answer in one word.')\n"
    "training.log_parameter(P[0], P[1])\n"
    "training.log_validation({P[3]: 0.25})\n"
    "training",
]

ACTIVE = (
    "script, img, iframe, object, embed, [onerror], [onload], [ontoggle], [onclick], "
    "a[href^='javascript:' i], [src^='javascript:' i], [href^='javascript:' i]"
)


@pytest.fixture(scope="module")
def executed(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The notebook, executed by nbclient with its widget state stored."""
    return execute_notebook(CELLS, tmp_path_factory.mktemp("saved") / "saved.ipynb")


@pytest.fixture(scope="module")
def exported(executed: Path) -> Path:
    """The executed notebook as ``jupyter nbconvert --to html`` exports it."""
    return export_html(executed)


def _check_graph(view: Any, page: Any) -> None:
    """The first view: names, the gradient badge, the gradient text, switches off."""
    names = " ".join(view.locator(".node").all_text_contents())
    assert "draft" in names and "AddBackward0" in names and "suffix" in names
    leaf = view.locator(".node.leaf.has-grad")
    assert leaf.count() == 1
    leaf.click()
    panel = view.locator(".afnio-panel")
    assert "Be much shorter." in panel.locator(".afnio-gradients").inner_text()
    page.wait_for_function(
        "el => el.dataset.kernel === 'saved'", arg=view.element_handle(), timeout=15_000
    )
    assert panel.locator("input.afnio-requires-grad").is_disabled()
    assert "Saved copy" in view.locator(".afnio-status").inner_text()


def _check_hostile_and_training(page: Any, scope: str) -> None:
    """The hostile view's panels show every payload as text; nothing ran; the chart is drawn."""
    views = page.locator(f"{scope} .afnio-graphview")
    hostile = views.nth(1)
    hostile.locator(".node").first.wait_for(timeout=30_000)
    assert hostile.locator(".afnio-title").inner_text() == PAYLOADS[1]
    seen = [hostile.inner_text()]
    nodes = hostile.locator("g.node[data-id]")
    for i in range(nodes.count()):
        nodes.nth(i).click()
        seen.append(hostile.locator(".afnio-panel").inner_text())
    training = page.locator(f"{scope} .afnio-training")
    training.locator("polyline").first.wait_for(timeout=30_000)
    assert "one word" in training.locator(".afnio-diff ins").first.inner_text()
    seen.append(training.inner_text())
    page.evaluate("() => new Promise((done) => setTimeout(done, 300))")
    text = "\n".join(seen)
    assert [p for p in PAYLOADS if p not in text] == []
    assert page.evaluate("() => window.__pwned === undefined")
    for area in (views.nth(0), hostile, training):
        assert area.locator(ACTIVE).count() == 0


@pytest.mark.parametrize("app", ["lab", "notebook"])
def test_a_saved_notebook_reopens_drawn_without_running_a_cell(page, lab, executed, app):
    name = f"saved-{app}.ipynb"
    shutil.copy(executed, lab.root / name)
    # Executed by nbclient, not saved by this user: JupyterLab renders widget outputs of trusted
    # notebooks only (a notebook saved in JupyterLab is trusted already).
    lab.trust(name)
    page.open_notebook(name, app=app)
    view = page.graph(0)
    _check_graph(view, page.page)
    _check_hostile_and_training(page.page, page.notebook)
    page.screenshot(f"saved-notebook-{app}.png", view)
    # The widget manager renders outputs while it restores the saved models, and logs each
    # output it met before its model as an error; the outputs are drawn once it is done.
    page.errors[:] = [
        e for e in page.errors if not ("widget model not found" in e and "jupyter-widgets" in e)
    ]


@pytest.fixture
def offline_page(browser: Any) -> Iterator[tuple[Any, list[str], list[str]]]:
    """A page whose only network is 127.0.0.1 and the local stand-ins of the CDN files; yields
    ``(page, errors, refused)``."""
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    refused = route_widget_scripts(context)
    errors: list[str] = []
    tab = context.new_page()
    tab.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    tab.on("dialog", lambda dialog: (errors.append(f"dialog: {dialog.message}"), dialog.dismiss()))
    tab.on(
        "console",
        lambda m: (
            errors.append(f"console.error: {m.text}")
            if m.type == "error" and "Failed to load resource" not in m.text
            else None
        ),
    )
    try:
        yield tab, errors, refused
    finally:
        context.close()


def test_the_html_export_draws_the_widgets_offline(offline_page, exported):
    tab, errors, refused = offline_page
    server, url = serve_folder(exported.parent)
    try:
        tab.goto(f"{url}/{exported.name}")
        view = tab.locator(".afnio-graphview").first
        view.locator(".node").first.wait_for(timeout=60_000)
        _check_graph(view, tab)
        _check_hostile_and_training(tab, "body")
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        view.screenshot(path=str(ARTIFACTS / "saved-html-export.png"))
    finally:
        server.shutdown()
        server.server_close()
    # Only the optional extras of nbconvert's page (MathJax...) were refused, never a widget file.
    assert not [u for u in refused if "jupyter-widgets" in u or "anywidget" in u], refused
    assert errors == []


def test_each_added_view_costs_less_than_150_kb(tmp_path):
    from benchmarks.saved_notebooks import notebook_sizes

    sizes = notebook_sizes(tmp_path, 3)
    per_view = (sizes["3 GraphViews"] - sizes["one GraphView"]) / 2
    assert per_view < 150 * 1024, f"{per_view / 1024:.0f} KB per GraphView of 20 nodes"
    # and the front-end bundle is in the notebook once, however many views there are
    text = (tmp_path / "3_GraphViews.ipynb").read_text(encoding="utf-8")
    assert text.count("afnio-graph-layout") == 1
