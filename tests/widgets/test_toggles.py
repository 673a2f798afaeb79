"""requires_grad switches (two-way) and the grad-mode switch."""

from __future__ import annotations

import afnio
from afnio_widgets import GradModeToggle, GraphView


def last_fields(comm, node_id):
    """The node as the front-end last received it in the `graph` trait."""
    return next(n for n in comm.graphs()[-1]["nodes"] if n["id"] == node_id)


def test_a_leaf_switch_changes_the_kernel_variable(comm_of):
    x = afnio.Variable("a", role="x", requires_grad=True)
    view = GraphView(x + x)
    c = comm_of(view)
    leaf = view.node_id(x)
    c.receive({"type": "set_requires_grad", "id": leaf, "value": False})
    assert x.requires_grad is False
    fields = last_fields(c, leaf)
    assert fields["requires_grad"] is False and fields.get("toggle_error") is None
    c.receive({"type": "set_requires_grad", "id": leaf, "value": True})
    assert x.requires_grad is True
    view.close()


def test_a_non_leaf_refuses_with_afnios_own_error(comm_of):
    x = afnio.Variable("a", role="x", requires_grad=True)
    y = x + x
    view = GraphView(y)
    c = comm_of(view)
    node = view.node_id(y)
    c.receive({"type": "set_requires_grad", "id": node, "value": False})
    assert y.requires_grad is True
    try:
        y.requires_grad = False
    except RuntimeError as error:
        expected = f"RuntimeError: {error}"
    fields = last_fields(c, node)
    assert fields["toggle_error"] == expected
    assert fields["requires_grad"] is True
    # answered, so the switch flips back even when nothing in the graph changed
    c.receive({"type": "set_requires_grad", "id": node, "value": False})
    answers = [m for m in c.custom() if m["type"] == "toggled"]
    assert answers == [{"type": "toggled", "id": node, "error": expected}] * 2
    view.close()


def test_changes_made_in_python_show_after_refresh(comm_of):
    x = afnio.Variable("a", role="x", requires_grad=True)
    view = GraphView(x + x)
    c = comm_of(view)
    x.requires_grad = False
    x.data = "new text"
    view.refresh()
    fields = last_fields(c, view.node_id(x))
    assert fields["requires_grad"] is False and fields["data"] == "new text"
    view.close()


def test_snapshot_views_ignore_switches(comm_of):
    x = afnio.Variable("a", role="x", requires_grad=True)
    view = GraphView.from_json(GraphView(x + x).to_json())
    c = comm_of(view)
    c.receive({"type": "set_requires_grad", "id": "n2", "value": False})
    assert x.requires_grad is True and not view.editable
    view.close()


def test_grad_mode_toggle_switches_the_kernel_thread(comm_of):
    toggle = GradModeToggle()
    assert toggle.enabled is True
    try:
        comm_of(toggle).update({"enabled": False})
        assert afnio.is_grad_enabled() is False
        x = afnio.Variable("a", requires_grad=True)
        assert (x + x).grad_fn is None
        comm_of(toggle).update({"enabled": True})
        assert afnio.is_grad_enabled() is True
        afnio.set_grad_enabled(False)
        toggle.refresh()
        assert toggle.enabled is False
    finally:
        afnio.set_grad_enabled(True)
        toggle.close()
