"""Virtual environments of their own for the libraries afnio is compared with.

Each compared library (TextGrad, LiteLLM) is installed from PyPI into a git-ignored
``benchmarks/.venv-NAME`` on first use, never into afnio's environment, and runs there as a child
process. A marker file records the requirement installed, so a later run reuses the environment.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

__all__ = ["ensure", "interpreter"]

INSTALL_TIMEOUT = 900


def interpreter(venv: Path) -> Path:
    """The Python interpreter of ``venv``."""
    return venv / "bin" / "python"


def ensure(venv: Path, requirement: str, log: Path) -> tuple[Path | None, str]:
    """Makes ``venv`` with ``requirement`` installed, unless it is already there.

    Returns:
        ``(interpreter, message)``; the interpreter is ``None`` when the install failed, and the
        message then says why (the pip output is in ``log``).
    """
    marker = venv / ".afnio-bench-installed"
    python = interpreter(venv)
    if marker.exists() and marker.read_text().strip() == requirement and python.exists():
        return python, f"reused {venv.name} ({requirement})"
    base = getattr(sys, "_base_executable", sys.executable)
    steps = [
        [base, "-m", "venv", "--clear", str(venv)],
        [str(python), "-m", "pip", "install", "--quiet", requirement],
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
    marker.write_text(requirement + "\n")
    return python, f"installed {requirement} into {venv.name}"
