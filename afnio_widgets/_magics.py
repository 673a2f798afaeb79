"""IPython magics: ``%load_ext afnio_widgets`` registers ``%%no_grad`` and ``%%afnio_trace``."""

from __future__ import annotations

import shlex
from typing import Any

from IPython.core.error import UsageError
from IPython.core.magic import Magics, cell_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments

import afnio
from afnio_widgets._live import trace

__all__ = ["AfnioMagics", "load_ipython_extension", "unload_ipython_extension"]


@magics_class
class AfnioMagics(Magics):
    """Cell magics for afnio."""

    @cell_magic
    def no_grad(self, line: str, cell: str) -> None:
        """Runs the cell under ``afnio.no_grad()``: no operation in it records a graph.

        Example::

            %%no_grad
            answer = prompt + question      # answer.requires_grad is False
        """
        if line.strip():
            raise ValueError(f"%%no_grad takes no arguments, got {line.strip()!r}.")
        shell = self._require_shell()
        with afnio.no_grad():
            shell.run_cell(cell)

    @magic_arguments()
    @argument("-o", "--output", default=None, help="Store the view in this variable.")
    @argument("--height", type=int, default=None, help="Height of the view in pixels.")
    @argument("--max-nodes", type=int, default=None, help="The most nodes drawn at once.")
    @argument("--title", default=None, help="A title for the view.")
    @cell_magic
    def afnio_trace(self, line: str, cell: str) -> None:
        """Shows a live graph view that grows as the cell runs operations.

        Example::

            %%afnio_trace -o view --height 400
            for question in questions:
                answers.append(prompt + question)
        """
        try:
            words = shlex.split(line)  # as a shell does: --title "a cell, traced" is one word
        except ValueError as exc:
            raise UsageError(f"%%afnio_trace: cannot parse the arguments {line!r}: {exc}.") from exc
        args = self.afnio_trace.parser.parse_args(words)
        options: dict[str, Any] = {}
        if args.height is not None:
            options["height"] = args.height
        if args.max_nodes is not None:
            options["max_nodes"] = args.max_nodes
        if args.title is not None:
            options["title"] = args.title
        shell = self._require_shell()
        with trace(**options) as view:
            if args.output:
                shell.user_ns[args.output] = view
            shell.run_cell(cell)

    def _require_shell(self) -> Any:
        if self.shell is None:
            raise RuntimeError("The afnio magics need an IPython shell.")
        return self.shell


def load_ipython_extension(ipython: Any) -> None:
    """Registers ``%%no_grad`` and ``%%afnio_trace`` (called by ``%load_ext afnio_widgets``)."""
    ipython.register_magics(AfnioMagics)


def unload_ipython_extension(ipython: Any) -> None:
    """Removes the magics registered by :func:`load_ipython_extension`."""
    cell_magics = ipython.magics_manager.magics.get("cell", {})
    for name in ("no_grad", "afnio_trace"):
        cell_magics.pop(name, None)
