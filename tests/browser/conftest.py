"""End-to-end fixtures: one JupyterLab server per session, Playwright with Debian's Chromium.

JupyterLab runs as a child process on 127.0.0.1 with its own config, runtime and IPython
folders and a temporary root folder; tests write notebooks there, open them like a user, run
cells with Shift+Enter and read the outputs. Console errors and page errors fail the test.
Without Chromium the tests are skipped with a loud message, except under ``CI=true``, where
they fail.
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
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

CHROMIUM = os.environ.get("AFNIO_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"
DOCS_IMG = REPO / "docs" / "img"

# The notebook in the visible tab.
NOTEBOOK = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"

# Messages JupyterLab itself logs as errors in a sandbox without network; not ours.
IGNORED_CONSOLE = (
    "Failed to load resource",
    "net::ERR_",
    "favicon",
)


def _require_chromium() -> None:
    if Path(CHROMIUM).exists():
        return
    message = (
        f"Chromium not found at {CHROMIUM}: the browser tests cannot run. "
        "Install it with `make browser-deps` (apt-get install chromium)."
    )
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    banner = "#" * 78
    sys.stderr.write(f"\n{banner}\n# SKIPPING BROWSER TESTS: {message}\n{banner}\n")
    pytest.skip(message)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


class Lab:
    """A running JupyterLab: its URL and the folder it serves."""

    def __init__(self, url: str, root: Path) -> None:
        self.url = url
        self.root = root

    def shutdown_kernels(self) -> None:
        """Stops every kernel, so that idle notebooks do not hold memory and CPU."""
        with urllib.request.urlopen(f"{self.url}/api/kernels", timeout=10) as response:
            kernels = json.load(response)
        for kernel in kernels:
            request = urllib.request.Request(
                f"{self.url}/api/kernels/{kernel['id']}", method="DELETE"
            )
            try:
                urllib.request.urlopen(request, timeout=10).close()
            except OSError:
                pass

    def write_notebook(self, name: str, cells: list[str]) -> str:
        """Writes a notebook with these code cells; returns its path relative to the root."""
        notebook = {
            "cells": [
                {
                    "cell_type": "code",
                    "execution_count": None,
                    "id": f"cell{i}",
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


@pytest.fixture(scope="session")
def lab() -> Iterator[Lab]:
    _require_chromium()
    base = Path(tempfile.mkdtemp(prefix="afnio-lab-"))
    root = base / "root"
    root.mkdir()
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(base / "config"),
        JUPYTER_RUNTIME_DIR=str(base / "runtime"),
        JUPYTER_DATA_DIR=str(base / "data"),
        IPYTHONDIR=str(base / "ipython"),
        JUPYTERLAB_SETTINGS_DIR=str(base / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
        PYTHONPATH=os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")]),
    )
    settings = base / "settings" / "@jupyterlab" / "apputils-extension"
    settings.mkdir(parents=True)
    (settings / "notification.jupyterlab-settings").write_text(
        json.dumps({"fetchNews": "false", "checkForUpdates": False})
    )
    # Render every cell (no windowing), so that a cell below the fold can be clicked.
    tracker = base / "settings" / "@jupyterlab" / "notebook-extension"
    tracker.mkdir(parents=True)
    (tracker / "tracker.jupyterlab-settings").write_text(json.dumps({"windowingMode": "none"}))
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
        "--ServerApp.disable_check_xsrf=True",  # lets the fixture stop kernels over the REST API
        f"--ServerApp.root_dir={root}",
        "--LabApp.news_url=None",
        "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
        "--LabApp.expose_app_in_browser=True",
        "--JupyterNotebookApp.expose_app_in_browser=True",
    ]
    log = (base / "lab.log").open("wb")
    process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, cwd=root)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    try:
        while True:
            try:
                with urllib.request.urlopen(f"{url}/api/status", timeout=2):
                    break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(
                        "JupyterLab did not start:\n"
                        + (base / "lab.log").read_text(errors="replace")[-3000:]
                    ) from None
                time.sleep(0.25)
        yield Lab(url, root)
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def browser(lab: Lab) -> Iterator[Any]:
    # Module scope: Playwright's sync API keeps an event loop running in this thread while it
    # is open, which would break later tests that call asyncio.run().
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


class Page:
    """A browser tab on the lab, with helpers to drive notebooks like a user."""

    notebook = NOTEBOOK
    """CSS selector of the notebook in the visible tab."""

    artifacts = ARTIFACTS
    """Where screenshots and timings go (git-ignored)."""

    def __init__(self, page: Any, lab: Lab) -> None:
        self.page = page
        self.lab = lab
        self.errors: list[str] = []
        self._prompts: dict[int, str] = {}
        page.on("console", self._on_console)
        page.on("pageerror", self._on_page_error)
        page.on("dialog", lambda dialog: self.errors.append(f"dialog: {dialog.message}"))

    def _on_page_error(self, exc: Any) -> None:
        stack = str(getattr(exc, "stack", "") or "")
        # Two errors Notebook 7.6 raises by itself, every frame in its notebook_core bundle: its
        # shortcut settings on /tree (also with no user settings at all), and its file browser
        # restoring a path with a command that Notebook 7 does not register. Not ours: ignored.
        known = ("reading 'schema'", "Command 'filebrowser:open-path' not registered")
        frames = [line for line in stack.splitlines()[1:] if "://" in line]
        if any(k in str(exc) for k in known) and all("notebook_core" in f for f in frames):
            return
        self.errors.append(f"pageerror: {exc}\n{stack}")

    def _on_console(self, msg: Any) -> None:
        if msg.type == "error" and not any(s in msg.text for s in IGNORED_CONSOLE):
            self.errors.append(f"console.error: {msg.text}")

    def open_notebook(self, path: str, app: str = "lab") -> None:
        """Opens a notebook and waits until its kernel is idle."""
        if app == "lab":
            # A workspace of our own, reset: no tabs left by the last test, and the default
            # workspace (which Notebook 7 restores) stays clean.
            self.page.goto(f"{self.lab.url}/lab/workspaces/afnio-tests/tree/{path}?reset")
        else:
            self.page.goto(f"{self.lab.url}/notebooks/{path}")
        self.page.wait_for_selector(f"{NOTEBOOK} .jp-Cell", timeout=60_000)
        self.wait_idle()

    def wait_idle(self, timeout: float = 60_000) -> None:
        """Waits until the current notebook's kernel is idle (and has started)."""
        self.page.wait_for_function(
            """() => {
                const app = window.jupyterapp;
                const widget = app && (app.shell.currentWidget || null);
                const ctx = widget && widget.sessionContext;
                const kernel = ctx && ctx.session && ctx.session.kernel;
                return Boolean(kernel) && kernel.status === 'idle';
            }""",
            timeout=timeout,
        )

    def cell(self, index: int) -> Any:
        return self.page.locator(f"{NOTEBOOK} .jp-Cell").nth(index)

    def run_cell(self, index: int, wait: bool = True) -> Any:
        """Runs cell ``index`` as a user does (click the editor, Shift+Enter)."""
        cell = self.cell(index)
        self._prompts[index] = cell.locator(".jp-InputArea-prompt").inner_text()
        cell.locator(".jp-InputArea-editor").click()
        self.page.keyboard.press("Shift+Enter")
        if wait:
            self.wait_executed(index)
        return cell

    def wait_executed(self, index: int, timeout: float = 60_000) -> None:
        """Waits until cell ``index`` shows a new execution count and the kernel is idle."""
        prompt = self.cell(index).locator(".jp-InputArea-prompt")
        self.page.wait_for_function(
            "([el, before]) => /\\[\\d+\\]/.test(el.textContent) && el.textContent !== before",
            arg=[prompt.element_handle(), self._prompts.get(index, "")],
            timeout=timeout,
        )
        self.wait_idle(timeout)

    def output_text(self, index: int) -> str:
        """The text of cell ``index``'s outputs, joined."""
        return "\n".join(self.cell(index).locator(".jp-OutputArea-output").all_inner_texts())

    def graph(self, index: int = 0) -> Any:
        """The ``index``-th GraphView on the page, once it has drawn its nodes."""
        view = self.page.locator(f"{NOTEBOOK} .afnio-graphview").nth(index)
        view.locator(".node").first.wait_for(timeout=30_000)
        return view

    def screenshot(self, name: str, locator: Any = None) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / name
        (locator or self.page).screenshot(path=str(path))
        return path


@pytest.fixture
def page(browser: Any, lab: Lab, request: pytest.FixtureRequest) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = Page(context.new_page(), lab)
    try:
        yield tab
    finally:
        failed = getattr(request.node, "rep_call", None)
        if failed is not None and failed.failed:
            try:
                tab.screenshot(f"FAILED-{request.node.name}.png")
            except Exception:
                pass
        context.close()
        lab.shutdown_kernels()
    assert not tab.errors, "errors in the browser:\n" + "\n".join(tab.errors)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.when == "call":
        item.rep_call = report  # type: ignore[attr-defined]


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/browser" in str(item.fspath):
            item.add_marker(pytest.mark.browser)
