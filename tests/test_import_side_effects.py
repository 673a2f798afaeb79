"""Importing afnio (every module) writes no file, starts no thread, and configures no logging."""

import subprocess
import sys
from pathlib import Path

SCRIPT = r"""
import logging, os, pkgutil, importlib, threading, sys
before_handlers = list(logging.getLogger().handlers)
before_threads = threading.active_count()
import afnio, afnio_widgets
for package in (afnio, afnio_widgets):
    for info in pkgutil.walk_packages(package.__path__, prefix=package.__name__ + "."):
        if info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
assert logging.getLogger().handlers == before_handlers, "the root logger was configured"
assert threading.active_count() == before_threads, "a thread was started at import"
print("imported", len(sys.modules))
"""


def test_imports_have_no_side_effects(tmp_path):
    home = tmp_path / "home"
    home.mkdir()
    env = {"HOME": str(home), "PATH": "/usr/bin:/bin", "PYTHONDONTWRITEBYTECODE": "1"}
    result = subprocess.run(
        [sys.executable, "-c", SCRIPT], cwd=tmp_path, env=env, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    written = [p for p in Path(tmp_path).rglob("*") if p != home]
    assert written == [], f"files written at import: {written}"
    assert list(home.rglob("*")) == []
