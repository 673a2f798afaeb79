"""to_dot: generated node names, escaped labels, and text that survives Graphviz."""

from __future__ import annotations

import re
import shutil
import subprocess
from xml.etree import ElementTree

import pytest

import afnio
from afnio_widgets import dot_escape, load_graph, to_dot, to_json

HOSTILE = 'say "hi" \\ back\\slash a:b <b>bold</b> \\" end\nsecond line'


def test_dot_escape():
    assert dot_escape('a"b') == 'a\\"b'
    assert dot_escape("a\\b") == "a\\\\b"
    assert dot_escape("a\nb") == "a\\lb"
    assert dot_escape("a:b") == "a:b"
    assert dot_escape("bell\x07") == "bell"


def test_node_names_are_generated_and_labels_escaped():
    x = afnio.Variable(HOSTILE, role='role "quoted"', requires_grad=True)
    dot = to_dot(x + afnio.Variable("b:c", role="port-like"))
    names = re.findall(r"^\s*(\S+) \[", dot.source, re.M)
    assert set(names) - {"node", "edge", "graph"} == {f"n{i}" for i in range(5)}
    assert re.findall(r"^\s*(n\d+) -> (n\d+)", dot.source, re.M)
    assert 'role \\"quoted\\"' in dot.source
    assert "b:c" in dot.source  # in a label, never as a node name or port
    assert "<b>" in dot.source and "label=<" not in dot.source  # not an HTML-like label


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz binaries not installed")
def test_text_survives_graphviz():
    x = afnio.Variable(HOSTILE, role='role "quoted" \\ x', requires_grad=True)
    dot = to_dot(x + x, width=200)
    svg = subprocess.run(
        ["dot", "-Tsvg"], input=dot.source, capture_output=True, text=True, check=True
    ).stdout
    texts = [
        el.text or "" for el in ElementTree.fromstring(svg).iter("{http://www.w3.org/2000/svg}text")
    ]
    assert 'role "quoted" \\ x' in texts
    assert 'say "hi" \\ back\\slash a:b <b>bold</b> \\" end second line' in texts


def test_to_dot_of_a_snapshot_needs_no_variables():
    x = afnio.Variable("a", role="x", requires_grad=True)
    y = x + x
    y.backward(afnio.Variable("shorter", role="feedback"))
    graph = load_graph(to_json(y))
    dot = to_dot(graph)
    assert "grad: shorter" in dot.source  # the feedback, without afnio's wrapper
