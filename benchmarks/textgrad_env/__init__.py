"""TextGrad, installed for the benchmark only, in a virtual environment of its own.

``benchmarks/.venv-textgrad`` (git-ignored) is made on first use with ``python -m venv`` and
``pip install textgrad==VERSION`` from PyPI; afnio is never installed there, and TextGrad never
in afnio's environment. The workload (:mod:`benchmarks.textgrad_env.run_workload`) runs in that
environment as a child process and reports its timings as JSON on stdout.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks import _venv

__all__ = ["TEXTGRAD_VERSION", "VENV", "ensure_venv"]

TEXTGRAD_VERSION = "0.1.8"
"""The TextGrad release measured (the latest on PyPI when this benchmark was written)."""

VENV = Path(__file__).resolve().parent.parent / ".venv-textgrad"


def python() -> Path:
    """The interpreter of the TextGrad environment."""
    return _venv.interpreter(VENV)


def ensure_venv(log: Path) -> tuple[Path | None, str]:
    """Makes the environment unless it is already there.

    Returns:
        ``(interpreter, message)``; the interpreter is ``None`` when TextGrad could not be
        installed, and the message then says why (the pip output is in ``log``).
    """
    return _venv.ensure(VENV, f"textgrad=={TEXTGRAD_VERSION}", log)
