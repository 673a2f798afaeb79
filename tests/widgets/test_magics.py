"""%load_ext afnio_widgets: %%no_grad and %%afnio_trace."""

from __future__ import annotations

import pytest
from IPython.core.interactiveshell import InteractiveShell


@pytest.fixture
def shell():
    shell = InteractiveShell.instance()
    shell.run_cell("%load_ext afnio_widgets", store_history=False)
    shell.run_cell(
        "import afnio\nx = afnio.Variable('a', role='x', requires_grad=True)", store_history=False
    )
    yield shell
    shell.run_cell("%unload_ext afnio_widgets", store_history=False)


def test_no_grad_builds_no_graph(shell):
    result = shell.run_cell("%%no_grad\ny = x + x\n", store_history=False)
    result.raise_error()
    y = shell.user_ns["y"]
    assert y.grad_fn is None and y.requires_grad is False
    assert shell.user_ns["afnio"].is_grad_enabled()  # restored after the cell
    shell.run_cell("z = x + x", store_history=False)
    assert shell.user_ns["z"].grad_fn is not None


def test_no_grad_rejects_arguments(shell):
    result = shell.run_cell("%%no_grad something\ny = x\n", store_history=False)
    assert isinstance(result.error_in_exec, ValueError)


def test_afnio_trace_shows_a_growing_view(shell):
    cell = (
        "%%afnio_trace -o view --height 300 --max-nodes 40 --title loop\n"
        "for i in range(5):\n    x = x + x\n"
    )
    shell.run_cell(cell, store_history=False).raise_error()
    view = shell.user_ns["view"]
    assert (view.height, view.max_nodes, view.title, view.live) == (300, 40, "loop", False)
    assert sum(n["kind"] == "function" for n in view.graph["nodes"]) == 6  # 5 adds + AccumulateGrad
    view.close()


@pytest.mark.parametrize(
    ("line", "title"),
    [
        ('--title "a cell, traced"', "a cell, traced"),
        ("--title 'it''s'", "its"),
        ("--title 'say \"hi\"'", 'say "hi"'),
        ("--title=plain", "plain"),
    ],
)
def test_afnio_trace_parses_arguments_as_a_shell_does(shell, line, title):
    shell.run_cell(f"%%afnio_trace -o view {line}\ny = x + x\n", store_history=False).raise_error()
    view = shell.user_ns["view"]
    assert view.title == title
    view.close()


def test_afnio_trace_names_an_unparsable_line(shell):
    result = shell.run_cell('%%afnio_trace --title "open\ny = x + x\n', store_history=False)
    assert "cannot parse the arguments" in str(result.error_before_exec or result.error_in_exec)
