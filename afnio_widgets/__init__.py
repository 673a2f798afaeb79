"""afnio_widgets: see afnio's backward passes in Jupyter.

* :class:`GraphView` draws the backward graph of Variables: click a node for its data, textual
  gradients and model calls; switch ``requires_grad`` of leaves; watch ``backward()`` run.
* :func:`trace` (or the ``%%afnio_trace`` cell magic) shows a view that grows as operations run.
* :class:`GradModeToggle` switches grad mode; ``%load_ext afnio_widgets`` adds ``%%no_grad``.
* :class:`TrainingView` follows ``Trainer.fit``: metrics, parameter diffs, tokens and cost.
* :class:`PromptTuner` explores prompt tuning by hand: run, feedback, step, accept, compare.
* :func:`to_dot`, :func:`to_json` and :meth:`GraphView.from_json` give static and saved forms.
"""

from afnio_widgets._dot import dot_escape, to_dot
from afnio_widgets._graph import graph_to_dict
from afnio_widgets._graphview import GraphView
from afnio_widgets._live import trace
from afnio_widgets._magics import load_ipython_extension, unload_ipython_extension
from afnio_widgets._snapshot import load_graph, to_json
from afnio_widgets._toggles import GradModeToggle
from afnio_widgets._training import TrainingView
from afnio_widgets._tuner import PromptTuner

__all__ = [
    "GradModeToggle",
    "GraphView",
    "PromptTuner",
    "TrainingView",
    "dot_escape",
    "graph_to_dict",
    "load_graph",
    "load_ipython_extension",
    "to_dot",
    "to_json",
    "trace",
    "unload_ipython_extension",
]
