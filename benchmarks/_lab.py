"""A JupyterLab on 127.0.0.1 driven by Playwright with Debian's Chromium, for the widget benchmark.

JupyterLab runs as a child process with its own config, runtime, data and settings folders in a
temporary directory, no token, and nothing that reaches the network. The page runs cells as a
user does: click the cell's editor, press Shift+Enter.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

__all__ = ["CHROMIUM", "Lab", "LabPage", "missing_prerequisites"]

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parent.parent


def missing_prerequisites() -> str | None:
    """Why the widget benchmark cannot run here, or ``None`` when it can."""
    if not Path(CHROMIUM).exists():
        return f"Chromium is not installed at {CHROMIUM} (apt-get install chromium)."
    for module in ("playwright", "jupyterlab", "afnio_widgets", "anywidget"):
        try:
            __import__(module)
        except ImportError as exc:
            return f"`{module}` cannot be imported: {exc}."
    bundle = REPO / "afnio_widgets" / "static" / "widget.js"
    if not bundle.exists():
        return f"The widget bundle {bundle.relative_to(REPO)} is not built (make test builds it)."
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Lab:
    """A running JupyterLab (a context manager); notebooks are written into its root folder."""

    def __init__(self) -> None:
        self.base = Path(tempfile.mkdtemp(prefix="afnio-bench-lab-"))
        self.root = self.base / "root"
        self.url = ""
        self._process: subprocess.Popen[bytes] | None = None
        self._log: Any = None

    def __enter__(self) -> Lab:
        self.root.mkdir()
        env = dict(os.environ)
        env.update(
            JUPYTER_CONFIG_DIR=str(self.base / "config"),
            JUPYTER_RUNTIME_DIR=str(self.base / "runtime"),
            JUPYTER_DATA_DIR=str(self.base / "data"),
            IPYTHONDIR=str(self.base / "ipython"),
            JUPYTERLAB_SETTINGS_DIR=str(self.base / "settings"),
            JUPYTERLAB_WORKSPACES_DIR=str(self.base / "workspaces"),
            PYTHONPATH=os.pathsep.join(p for p in (str(REPO), env.get("PYTHONPATH", "")) if p),
        )
        settings = self.base / "settings" / "@jupyterlab" / "apputils-extension"
        settings.mkdir(parents=True)
        (settings / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False})
        )
        port = _free_port()
        command = [
            sys.executable,
            "-m",
            "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ip=127.0.0.1",
            f"--port={port}",
            "--ServerApp.port_retries=0",
            "--IdentityProvider.token=",
            "--ServerApp.password=",
            f"--ServerApp.root_dir={self.root}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.expose_app_in_browser=True",
        ]
        self._log = (self.base / "lab.log").open("wb")
        self._process = subprocess.Popen(
            command, env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=self.root
        )
        self.url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 90
        while True:
            try:
                with urllib.request.urlopen(f"{self.url}/api/status", timeout=2):
                    return self
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    log = (self.base / "lab.log").read_text(errors="replace")[-2000:]
                    self.__exit__()
                    raise RuntimeError(f"JupyterLab did not start:\n{log}") from None
                time.sleep(0.25)

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._log is not None:
            self._log.close()
            self._log = None
        shutil.rmtree(self.base, ignore_errors=True)

    def write_notebook(self, name: str, cells: list[str]) -> str:
        """Writes a notebook of code cells into the root folder; returns its path there."""
        notebook = {
            "cells": [
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "id": f"cell-{i}",
                    "metadata": {},
                    "outputs": [],
                    "source": source,
                }
                for i, source in enumerate(cells)
            ],
            "metadata": {
                "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"}
            },
            "nbformat": 4,
            "nbformat_minor": 5,
        }
        (self.root / name).write_text(json.dumps(notebook), encoding="utf-8")
        return name


_KERNEL_IDLE = """() => {
    const app = window.jupyterapp;
    const widget = app && app.shell.currentWidget;
    const ctx = widget && widget.sessionContext;
    const kernel = ctx && ctx.session && ctx.session.kernel;
    return Boolean(kernel) && kernel.status === 'idle';
}"""


class LabPage:
    """One browser tab on the lab; collects console errors and page errors."""

    def __init__(self, page: Any, lab: Lab) -> None:
        self.page = page
        self.lab = lab
        self.errors: list[str] = []
        page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        page.on(
            "console",
            lambda msg: (
                self.errors.append(f"console.error: {msg.text}") if msg.type == "error" else None
            ),
        )

    def open_notebook(self, path: str) -> None:
        self.page.goto(f"{self.lab.url}/lab/tree/{path}")
        self.page.wait_for_selector(".jp-Notebook .jp-Cell", timeout=90_000)
        self.wait_idle(90_000)

    def wait_idle(self, timeout: float = 120_000) -> None:
        self.page.wait_for_function(_KERNEL_IDLE, timeout=timeout)

    def cell(self, index: int) -> Any:
        return self.page.locator(".jp-Notebook .jp-Cell").nth(index)

    def run_cell(self, index: int) -> None:
        """Runs cell ``index`` as a user does, without waiting for it."""
        self.cell(index).locator(".jp-InputArea-editor").click()
        self.page.keyboard.press("Shift+Enter")

    def wait_executed(self, index: int, timeout: float = 300_000) -> None:
        """Waits for cell ``index`` to show its execution count and the kernel to be idle."""
        prompt = self.cell(index).locator(".jp-InputArea-prompt")
        self.page.wait_for_function(
            "el => /\\[\\d+\\]/.test(el.textContent)", arg=prompt.element_handle(), timeout=timeout
        )
        self.wait_idle(timeout)

    def output_text(self, index: int) -> str:
        return "\n".join(self.cell(index).locator(".jp-OutputArea-output").all_inner_texts())
