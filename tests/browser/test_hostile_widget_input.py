"""Hostile text in the widgets, in a real browser: data, roles, gradients, model calls, titles
and training views full of HTML/JS payloads render as text and run nothing.

Every payload tries to set ``window.__pwned`` (or open a dialog). After the views are drawn and
every node and edge has been clicked (so that the details panel renders each one's full data,
gradients and model calls), ``window.__pwned`` must be undefined, no dialog may have opened, no
active element (script, img, iframe, event-handler or ``javascript:`` attribute) may exist in the
outputs, and every payload must be readable, as text, somewhere in the view.
"""

from __future__ import annotations

import importlib.util
import json
import re
from pathlib import Path
from typing import Any

import pytest

if not Path(__file__).with_name("conftest.py").exists():
    pytest.skip(
        "needs the browser harness (tests/browser/conftest.py: the `lab` and `page` fixtures)",
        allow_module_level=True,
    )

from drawing_checks import OVERLAPS

# Control and bidi characters are drawn visibly, as js/dom.js `visible` does.
_HIDDEN = re.compile(
    "[\u0000-\u0008\u000b\u000c\u000e-\u001f\u007f-\u009f\u061c\u200b\u200e\u200f"
    "\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]"
)


def shown(text: str) -> str:
    """``text`` as the widgets draw it: ``"\u202e"`` becomes ``"⟨U+202E⟩"``."""
    return _HIDDEN.sub(lambda m: f"⟨U+{ord(m.group()):04X}⟩", text)


PAYLOADS = [
    "<script>window.__pwned = 'script'</script>",
    "<img src=x onerror=\"window.__pwned = 'img'\">",
    "<svg onload=\"window.__pwned = 'svg'\"></svg>",
    "</svg></g><script>window.__pwned = 'breakout'</script><svg>",
    "\"><img src=x onerror=window.__pwned='attr'>",
    "javascript:window.__pwned='url'",
    "<a href=\"javascript:window.__pwned='link'\">click me</a>",
    "<iframe src=\"javascript:parent.__pwned='iframe'\"></iframe>",
    "<details open ontoggle=\"window.__pwned='toggle'\">x</details>",
    "{{constructor.constructor('window.__pwned=\"template\"')()}}",
    "${window.__pwned = 'literal'}",
    "<script>alert('dialog')</script>",
    "]]><!-- --><style>*{display:none}</style>",
    "right\u202eto-left \u200bzero\u200dwidth\ufeff text",
]
# Longer than the views show (they cut long texts): the payload at its start must show as text.
LONG = "<script>window.__pwned = 'long'</script>" + "A" * 120_000 + "<img src=x onerror=alert(1)>"

SETUP = f"""
import afnio, afnio_widgets
import afnio.cognitive.functional as F
from afnio import Variable
from afnio.models.openai import AsyncOpenAI
from afnio.testing import LocalServer, ScriptedModel

P = {json.dumps(PAYLOADS)}
LONG = {json.dumps(LONG)}

def answer(request):
    if request.schema_name == "variable_feedback":  # the backward model: payloads as feedback
        return {{key: " ".join(P) for key in request.schema["required"]}}
    return " | ".join(P)  # the forward model answers with every payload

script = ScriptedModel()
script.when().reply(answer)
server = LocalServer(script).start()
options = {{"base_url": server.base_url, "api_key": server.api_key}}
afnio.set_backward_model_client("openai/gpt-4o-mini", client_args=dict(options))
model = AsyncOpenAI(**options)

leaves = [Variable(p, role=p, requires_grad=True) for p in P]
batch = Variable(P, role=P[0], requires_grad=True)
long = Variable(LONG, role=P[1], requires_grad=True)
question = Variable("{{x}}", role=P[3])
answer_ = F.chat_completion(
    model,
    [{{"role": "system", "content": leaves[:2]}}, {{"role": "user", "content": [question]}}],
    {{"x": batch}},
    model="gpt-4o-mini",
)
root = F.sum([*leaves, long]) + Variable(P[4], role=P[5])
root.backward(Variable(" ".join(P), role=P[6]))
answer_.backward(Variable([p for p in P], role=P[7]))
"""

GRAPH = "view = afnio_widgets.GraphView([root, answer_], title=P[0], height=700)\nview"
TRAINING = """
training = afnio_widgets.TrainingView(title=P[2], track_calls=False)
training.log_parameter(P[0], P[1])
training.log_step({P[3]: 0.5, "loss": 1.0})
training.log_parameter(P[0], P[8] + " " + P[9])
training.log_validation({P[10]: 0.25})
training
"""

ACTIVE = (
    "script, img, iframe, object, embed, "
    "[onerror], [onload], [ontoggle], [onclick], [onmouseover], "
    "a[href^='javascript:' i], [src^='javascript:' i], [href^='javascript:' i]"
)


def _figures() -> Any:
    """The reliability suite's figures (tests/reliability/reliability_figures.py)."""
    path = Path(__file__).resolve().parents[1] / "reliability" / "reliability_figures.py"
    spec = importlib.util.spec_from_file_location("reliability_figures", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.Figures()


@pytest.mark.slow
def test_hostile_text_renders_as_text_and_runs_nothing(lab, page):
    dialogs: list[str] = []

    def on_dialog(dialog: Any) -> None:
        dialogs.append(dialog.message)
        dialog.dismiss()

    page.page.on("dialog", on_dialog)
    name = lab.write_notebook("hostile_widget_input.ipynb", [SETUP, GRAPH, TRAINING])
    page.open_notebook(name)
    page.run_cell(0)
    graph_cell = page.run_cell(1)
    training_cell = page.run_cell(2)

    output = graph_cell.locator(".jp-OutputArea-output")
    nodes = output.locator("g.node[data-id]")
    nodes.first.wait_for(timeout=60_000)
    # hostile text is drawn without overlaps: no badge or label box over a node or a badge
    overlaps = output.locator(".afnio-graphview").evaluate(OVERLAPS)
    assert overlaps["clashes"] == [], overlaps
    panel = output.locator(".afnio-panel")
    seen: list[str] = [output.text_content() or ""]
    clicked = 0
    for kind in ("g.node[data-id]", "g.edge[data-id]"):
        items = output.locator(kind)
        for i in range(items.count()):
            items.nth(i).click(force=True)
            panel.wait_for(state="visible")
            page.page.wait_for_function(
                "el => !el.querySelector('.afnio-loading')", arg=panel.element_handle()
            )
            seen.append(panel.text_content() or "")
            clicked += 1
    training_output = training_cell.locator(".jp-OutputArea-output")
    training_output.locator("svg").first.wait_for(timeout=60_000)
    seen.append(training_output.text_content() or "")
    # Give anything that might have been injected (an image failing to load...) time to fire.
    page.page.evaluate("() => new Promise((done) => setTimeout(done, 500))")

    assert page.page.evaluate("() => window.__pwned") is None
    assert dialogs == []
    for area in (output, training_output):
        assert area.locator(ACTIVE).count() == 0
    handlers = page.page.evaluate(
        """() => [...document.querySelectorAll('*')].flatMap((el) => [...el.attributes]
            .filter((a) => /^on/i.test(a.name) && a.value.includes('__pwned'))
            .map((a) => `${el.tagName}[${a.name}]`))"""
    )
    assert handlers == []
    text = "\n".join(seen)
    missing = [p for p in PAYLOADS if shown(p) not in text]
    assert missing == [], f"payloads not shown as text: {missing}"
    assert LONG[:2_000] in text  # the long text is shown (cut), as text
    assert clicked >= len(PAYLOADS)

    figures = _figures()
    figures.put("widget_input", "payloads", len(PAYLOADS) + 1)
    figures.put("widget_input", "nodes_and_edges_opened", clicked)
    figures.put("widget_input", "scripts_run", 0)
    figures.flush()
