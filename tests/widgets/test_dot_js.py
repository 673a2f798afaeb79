"""One DOT: the GraphView's "DOT" button (js/dot.js ``graphDot``, run here with Node.js on the
graph the front-end receives) gives exactly ``afnio_widgets.to_dot(view).source``."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import pytest

import afnio
import afnio.cognitive.functional as F
import afnio_widgets
from afnio.cognitive import Parameter
from afnio_widgets import GraphView, to_dot

REPO = Path(__file__).resolve().parents[2]
NODE = shutil.which("node")

SCRIPT = """
import { readFileSync } from "node:fs";
import { graphDot } from "DOT_JS";
const graphs = JSON.parse(readFileSync(0, "utf8"));
process.stdout.write(JSON.stringify(graphs.map((g) => graphDot(g))));
"""

HOSTILE = [
    'say "hi" \\ back\\slash a:b <b>bold</b> \\" end\nsecond line',
    "trailing backslash \\",
    "node",
    "\u202eevil \x07bell \ttab \u00a0nbsp \x1cfs emoji 👩\u200d💻 " + "é" * 50,
    "",
]


def _graphs() -> list[GraphView]:
    views = []
    for text in HOSTILE:
        x = afnio.Variable(text, role=text or "r", requires_grad=True)
        y = x + afnio.Variable(text[::-1], role="other")
        view = GraphView(y)
        y.backward(afnio.Variable(f"Be brief. {text}", role="feedback"))
        view.refresh()
        views.append(view)
    prompt = Parameter("Answer in one word.", role="instruction")
    batch = F.sum([prompt + afnio.Variable(q, role="question") for q in ("a?", "b?", "c?")])
    view = GraphView(batch)
    batch.backward(afnio.Variable("Require a one-word answer.", role="feedback"))
    view.refresh()
    views.append(view)
    numbers = afnio.Variable([1, 2.5, 3], role="numbers", requires_grad=True)
    with afnio_widgets.trace(display=False) as live:
        z = numbers + afnio.Variable([3.0, 4, 5], role="three")
        with afnio.no_grad():
            z + numbers
    views.append(live)
    return views


@pytest.mark.skipif(NODE is None, reason="needs Node.js (make env installs it)")
def test_the_dot_button_gives_to_dot(tmp_path):
    views = _graphs()
    script = tmp_path / "dot.mjs"
    script.write_text(SCRIPT.replace("DOT_JS", (REPO / "js" / "dot.js").as_uri()))
    wire = [view.graph for view in views]  # the graph trait: what the front-end receives
    out = subprocess.run(
        [str(NODE), str(script)],
        input=json.dumps(wire),
        capture_output=True,
        text=True,
        check=True,
        timeout=60,
    )
    from_js = json.loads(out.stdout)
    for view, js in zip(views, from_js, strict=True):
        assert js == to_dot(view).source
    for view in views:
        view.close()
