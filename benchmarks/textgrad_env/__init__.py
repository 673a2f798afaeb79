"""TextGrad, installed for the benchmark only, in a virtual environment of its own.

``benchmarks/.venv-textgrad`` (git-ignored) is made on first use with ``python -m venv`` and
``pip install textgrad==VERSION`` from PyPI; afnio is never installed there, and TextGrad never
in afnio's environment. The workload (:mod:`benchmarks.textgrad_env.run_workload`) runs in that
environment as a child process and reports its timings as JSON on stdout.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["TEXTGRAD_VERSION", "VENV", "ensure_venv"]

TEXTGRAD_VERSION = "0.1.8"
"""The TextGrad release measured (the latest on PyPI when this benchmark was written)."""

VENV = Path(__file__).resolve().parent.parent / ".venv-textgrad"
_MARKER = VENV / ".afnio-bench-installed"
INSTALL_TIMEOUT = 900


def python() -> Path:
    """The interpreter of the TextGrad environment."""
    return VENV / "bin" / "python"


def ensure_venv(log: Path) -> tuple[Path | None, str]:
    """Makes the environment unless it is already there.

    Returns:
        ``(interpreter, message)``; the interpreter is ``None`` when TextGrad could not be
        installed, and the message then says why (the pip output is in ``log``).
    """
    if _MARKER.exists() and _MARKER.read_text().strip() == TEXTGRAD_VERSION and python().exists():
        return python(), f"reused {VENV.name} (textgrad {TEXTGRAD_VERSION})"
    base = getattr(sys, "_base_executable", sys.executable)
    steps = [
        [base, "-m", "venv", "--clear", str(VENV)],
        [str(python()), "-m", "pip", "install", "--quiet", f"textgrad=={TEXTGRAD_VERSION}"],
    ]
    env = {k: v for k, v in os.environ.items() if k not in ("VIRTUAL_ENV", "PYTHONPATH")}
    with log.open("w", encoding="utf-8") as out:
        for command in steps:
            out.write("$ " + " ".join(command) + "\n")
            out.flush()
            try:
                done = subprocess.run(
                    command,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                    env=env,
                    timeout=INSTALL_TIMEOUT,
                    check=False,
                )
            except (OSError, subprocess.TimeoutExpired) as exc:
                return None, f"`{' '.join(command[:4])}` failed: {type(exc).__name__}: {exc}"
            if done.returncode != 0:
                tail = log.read_text(encoding="utf-8", errors="replace").strip().splitlines()
                last = tail[-1] if tail else ""
                return None, (
                    f"`{' '.join(command[:4])} ...` exited with {done.returncode}: {last[:300]}"
                )
    _MARKER.write_text(TEXTGRAD_VERSION + "\n")
    return python(), f"installed textgrad {TEXTGRAD_VERSION} into {VENV.name}"
