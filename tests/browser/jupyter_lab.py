"""A JupyterLab of its own, driven by headless Chromium: the harness of the browser tests
(``tests/browser``) and of the widget benchmark (``benchmarks/widgets.py``), not shipped with
afnio.

:class:`JupyterLab` starts a JupyterLab server as a child process on 127.0.0.1, on a free port,
with its own config, runtime, data, settings and IPython folders in a temporary directory, no
token, and nothing that reaches the network. :class:`LabPage` wraps a Playwright page and drives
notebooks as a user does: it opens them, clicks a cell's editor and presses Shift+Enter, waits
for the execution count and an idle kernel, and collects the page's console and page errors.

This module imports neither JupyterLab (the server is a child process) nor Playwright (the
caller opens it), so importing it costs nothing. Playwright's own browser downloads are not
used: :func:`launch_chromium` launches the system's Chromium (:data:`CHROMIUM_PATH`, or the
``AFNIO_CHROMIUM`` environment variable) with flags that keep it off the network.

Example:
    A test that runs one cell and reads its output (not run here: it needs Chromium)::

        from playwright.sync_api import sync_playwright
        from tests.browser.jupyter_lab import JupyterLab, LabPage, launch_chromium

        with JupyterLab() as lab, sync_playwright() as p:
            browser = launch_chromium(p)
            page = LabPage(browser.new_page(), lab)
            page.open_notebook(lab.write_notebook("demo.ipynb", ["print(1 + 1)"]))
            page.run_cell(0)
            assert page.output_text(0).strip() == "2"
            page.assert_no_errors()
            browser.close()
"""

from __future__ import annotations

import functools
import json
import mimetypes
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterable, Sequence
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib.util import find_spec
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

if TYPE_CHECKING:
    from playwright.sync_api import (
        Browser,
        BrowserContext,
        ConsoleMessage,
        Locator,
        Page,
        Playwright,
        Route,
    )

__all__ = [
    "CHROMIUM_ARGS",
    "CHROMIUM_PATH",
    "JupyterLab",
    "LabPage",
    "chromium_path",
    "execute_notebook",
    "export_html",
    "launch_chromium",
    "missing_prerequisites",
    "notebook_json",
    "route_widget_scripts",
    "serve_folder",
]

REPO = Path(__file__).resolve().parents[2]

CHROMIUM_PATH = "/usr/bin/chromium"
"""Where Debian's ``chromium`` package installs the browser; ``AFNIO_CHROMIUM`` overrides it."""

CHROMIUM_ARGS = (
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    # Without these three, Chromium keeps trying to reach hosts it cannot reach.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
"""Flags :func:`launch_chromium` passes to Chromium (Playwright adds ``--headless``)."""

# Console messages JupyterLab logs as errors in a sandbox without network: not the page's fault.
IGNORED_CONSOLE = ("Failed to load resource", "net::ERR_", "favicon")

# Two errors Notebook 7 raises by itself, from every frame of its own notebook_core bundle: its
# shortcut settings on /tree (even with no user settings), and its file browser restoring a path
# with a command that Notebook 7 does not register.
_NOTEBOOK7_ERRORS = ("reading 'schema'", "Command 'filebrowser:open-path' not registered")

_KERNEL_IDLE = """() => {
    const app = window.jupyterapp;
    const widget = app && (app.shell.currentWidget || null);
    const ctx = widget && widget.sessionContext;
    const kernel = ctx && ctx.session && ctx.session.kernel;
    return Boolean(kernel) && kernel.status === 'idle';
}"""

_NEW_EXECUTION_COUNT = (
    "([el, before]) => /\\[\\d+\\]/.test(el.textContent) && el.textContent !== before"
)


def chromium_path() -> str:
    """The Chromium binary to launch: ``AFNIO_CHROMIUM`` if set, else :data:`CHROMIUM_PATH`."""
    return os.environ.get("AFNIO_CHROMIUM") or CHROMIUM_PATH


def missing_prerequisites() -> str | None:
    """Why afnio's widgets cannot be tested in a browser here, or ``None`` when they can.

    Checks, without importing anything: the Chromium binary (:func:`chromium_path`), the
    ``playwright``, ``jupyterlab``, ``anywidget`` and ``afnio_widgets`` packages, and the
    widgets' built front-end bundle.

    Returns:
        One sentence naming the first missing piece and how to get it, or ``None``.
    """
    chromium = chromium_path()
    if not Path(chromium).exists():
        return (
            f"Chromium is not installed at {chromium} "
            "(`make system-deps` or `apt-get install chromium`; AFNIO_CHROMIUM names another)."
        )
    for module in ("playwright", "jupyterlab", "anywidget", "afnio_widgets"):
        if find_spec(module) is None:
            return f"`{module}` is not installed (`pip install -e '.[dev,lab]'` installs it)."
    spec = find_spec("afnio_widgets")
    assert spec is not None and spec.submodule_search_locations
    bundle = Path(next(iter(spec.submodule_search_locations))) / "static" / "widget.js"
    if not bundle.exists():
        return f"The widget bundle {bundle} is not built (`make js` builds it)."
    return None


def launch_chromium(playwright: Playwright, **options: Any) -> Browser:
    """Launches headless Chromium from :func:`chromium_path` with :data:`CHROMIUM_ARGS`.

    Args:
        playwright: The object ``sync_playwright()`` gives.
        **options: More options for ``playwright.chromium.launch``; they replace the defaults,
            except ``args``, which are added after :data:`CHROMIUM_ARGS`.

    Returns:
        The browser; close it, or leave the ``sync_playwright()`` block, when done.
    """
    extra_args = list(options.pop("args", ()))
    launch: dict[str, Any] = {"executable_path": chromium_path(), "headless": True}
    launch.update(options)
    return playwright.chromium.launch(args=[*CHROMIUM_ARGS, *extra_args], **launch)


def notebook_json(cells: Iterable[str]) -> dict[str, Any]:
    """A version 4.5 notebook of these code cells, no outputs, for the ``python3`` kernel.

    Example:
        >>> nb = notebook_json(["x = 1", "x + 1"])
        >>> [cell["source"] for cell in nb["cells"]], nb["nbformat"], nb["nbformat_minor"]
        (['x = 1', 'x + 1'], 4, 5)
    """
    return {
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


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class JupyterLab:
    """A JupyterLab server on 127.0.0.1 for tests: a context manager, or ``start()``/``stop()``.

    Nothing happens until :meth:`start`. It then makes a temporary folder for Jupyter's config,
    runtime, data, settings, workspaces and IPython folders, writes user settings (no news, no
    update check; with ``render_all_cells``, no notebook windowing), starts ``python -m
    jupyterlab`` with no token, no password and no XSRF check (so that :meth:`shutdown_kernels`
    can use the REST API), and waits until ``/api/status`` answers. ``window.jupyterapp`` is
    exposed in the page, which :class:`LabPage` relies on. :meth:`stop` terminates the server and
    removes the temporary folder.

    Args:
        root: The folder the server serves. Default: a new folder inside the temporary one,
            removed on :meth:`stop`; a given folder is never removed.
        extra_args: More command-line options for ``jupyter lab``.
        pythonpath: Folders put first on the kernels' ``PYTHONPATH``.
        render_all_cells: Turn notebook windowing off (``windowingMode: none``), so that every
            cell is in the page and one below the fold can be clicked. ``False`` keeps
            JupyterLab's default, as a user has it.
        startup_timeout: Seconds to wait for the server to answer.

    Raises:
        RuntimeError: From :meth:`start`, when the server exits or does not answer in time; the
            message ends with the tail of its log.

    Example:
        Notebooks can be written into a given root before the server starts:

        >>> import tempfile
        >>> with tempfile.TemporaryDirectory() as folder:
        ...     lab = JupyterLab(root=Path(folder))
        ...     lab.write_notebook("smoke.ipynb", ["import afnio"])
        'smoke.ipynb'
    """

    def __init__(
        self,
        root: Path | None = None,
        *,
        extra_args: Sequence[str] = (),
        pythonpath: Sequence[str | Path] = (),
        render_all_cells: bool = True,
        startup_timeout: float = 60.0,
    ) -> None:
        self.extra_args = list(extra_args)
        self.pythonpath = [str(p) for p in pythonpath]
        self.render_all_cells = render_all_cells
        self.startup_timeout = startup_timeout
        self._root = None if root is None else Path(root)
        self._owns_root = root is None
        self._base: Path | None = None
        self._url: str | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._env: dict[str, str] | None = None

    @property
    def url(self) -> str:
        """``http://127.0.0.1:PORT``, once started."""
        if self._url is None:
            raise RuntimeError("JupyterLab has no URL before start(): start it first.")
        return self._url

    @property
    def root(self) -> Path:
        """The folder the server serves; notebook paths are relative to it."""
        if self._root is None:
            raise RuntimeError(
                "JupyterLab has no root folder before start(): start it first, "
                "or pass root=... to JupyterLab()."
            )
        return self._root

    @property
    def running(self) -> bool:
        """Whether the server process is alive."""
        return self._process is not None and self._process.poll() is None

    def start(self) -> JupyterLab:
        """Starts the server and waits until it answers; returns ``self``."""
        if self._process is not None:
            raise RuntimeError("JupyterLab is already started; stop() it first.")
        self._base = base = Path(tempfile.mkdtemp(prefix="afnio-lab-"))
        root = base / "root" if self._owns_root else self.root
        root.mkdir(parents=True, exist_ok=True)
        self._root = root
        self._write_settings(base / "settings")
        env = dict(os.environ)
        env.update(
            JUPYTER_CONFIG_DIR=str(base / "config"),
            JUPYTER_RUNTIME_DIR=str(base / "runtime"),
            JUPYTER_DATA_DIR=str(base / "data"),
            IPYTHONDIR=str(base / "ipython"),
            JUPYTERLAB_SETTINGS_DIR=str(base / "settings"),
            JUPYTERLAB_WORKSPACES_DIR=str(base / "workspaces"),
        )
        paths = [*self.pythonpath, env.get("PYTHONPATH", "")]
        env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
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
            "--ServerApp.disable_check_xsrf=True",
            f"--ServerApp.root_dir={root}",
            "--LabApp.news_url=None",
            "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
            "--LabApp.expose_app_in_browser=True",
            "--JupyterNotebookApp.expose_app_in_browser=True",
            *self.extra_args,
        ]
        self._env = env
        self._log = (base / "lab.log").open("wb")
        self._process = subprocess.Popen(
            command, env=env, stdout=self._log, stderr=subprocess.STDOUT, cwd=root
        )
        self._url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + self.startup_timeout
        while True:
            try:
                with urllib.request.urlopen(f"{self._url}/api/status", timeout=2):
                    return self
            except OSError:
                if self._process.poll() is not None or time.monotonic() > deadline:
                    status = self._process.poll()
                    tail = (base / "lab.log").read_text(errors="replace")[-3000:]
                    self.stop()
                    why = (
                        f"exited with status {status}"
                        if status is not None
                        else f"did not answer within {self.startup_timeout:g} s"
                    )
                    raise RuntimeError(f"JupyterLab {why}; the end of its log:\n{tail}") from None
                time.sleep(0.25)

    def stop(self) -> None:
        """Stops the server and removes its temporary folder. Safe to call twice."""
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
        if self._base is not None:
            shutil.rmtree(self._base, ignore_errors=True)
            if self._owns_root:
                self._root = None
            self._base = None
        self._url = None

    def __enter__(self) -> JupyterLab:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def write_notebook(self, name: str, cells: Iterable[str]) -> str:
        """Writes a notebook of code cells (:func:`notebook_json`) into :attr:`root`.

        Args:
            name: Its path relative to the root, such as ``"demo.ipynb"``.
            cells: The source of each code cell.

        Returns:
            ``name``, the path to give :meth:`LabPage.open_notebook`.
        """
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(notebook_json(cells), indent=1), encoding="utf-8")
        return name

    def trust(self, name: str) -> None:
        """Trusts a notebook in :attr:`root` for this server (``jupyter trust``, with the
        server's own data folder), as JupyterLab trusts a notebook its user saved. JupyterLab
        renders the widget outputs of trusted notebooks only; one executed elsewhere (nbclient)
        is not trusted until then.

        Raises:
            RuntimeError: Before :meth:`start`, or if ``jupyter trust`` fails.
        """
        if self._env is None:
            raise RuntimeError("JupyterLab.trust() needs a started server: start it first.")
        done = subprocess.run(
            [sys.executable, "-m", "nbformat.sign", str(self.root / name)],
            env=self._env,
            capture_output=True,
            text=True,
            check=False,
        )
        if done.returncode != 0:
            raise RuntimeError(f"jupyter trust {name} failed: {done.stderr.strip()[-500:]}")

    def shutdown_kernels(self) -> None:
        """Stops every running kernel, so that notebooks left open hold no memory or CPU."""
        with urllib.request.urlopen(f"{self.url}/api/kernels", timeout=10) as response:
            kernels = json.load(response)
        for kernel in kernels:
            request = urllib.request.Request(
                f"{self.url}/api/kernels/{kernel['id']}", method="DELETE"
            )
            try:
                urllib.request.urlopen(request, timeout=10).close()
            except OSError:
                pass  # already gone

    def _write_settings(self, folder: Path) -> None:
        settings: dict[str, dict[str, Any]] = {
            "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False}
        }
        if self.render_all_cells:
            settings["notebook-extension/tracker"] = {"windowingMode": "none"}
        for plugin, values in settings.items():
            path = folder / "@jupyterlab" / f"{plugin}.jupyterlab-settings"
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(json.dumps(values), encoding="utf-8")


class LabPage:
    """A browser tab on a :class:`JupyterLab`, driving notebooks as a user does.

    Console errors (but for a missing favicon and unreachable resources), page errors and
    dialogs are collected in :attr:`errors`; :meth:`assert_no_errors` fails on any of them.

    Args:
        page: A Playwright page (``browser.new_page()`` or ``context.new_page()``).
        lab: The running server.
        artifacts: The folder :meth:`screenshot` writes to by default.

    Timeouts are in milliseconds, as Playwright counts them.
    """

    notebook = ".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook"
    """CSS selector of the notebook in the visible tab."""

    def __init__(
        self, page: Page, lab: JupyterLab, *, artifacts: Path = Path("test-artifacts")
    ) -> None:
        self.page = page
        self.lab = lab
        self.artifacts = Path(artifacts)
        self.errors: list[str] = []
        self._prompts: dict[int, str] = {}
        page.on("console", self._on_console)
        page.on("pageerror", self._on_page_error)
        page.on("dialog", lambda dialog: self.errors.append(f"dialog: {dialog.message}"))

    def _on_console(self, message: ConsoleMessage) -> None:
        if message.type == "error" and not any(s in message.text for s in IGNORED_CONSOLE):
            self.errors.append(f"console.error: {message.text}")

    def _on_page_error(self, error: Any) -> None:
        stack = str(getattr(error, "stack", "") or "")
        frames = [line for line in stack.splitlines()[1:] if "://" in line]
        if any(known in str(error) for known in _NOTEBOOK7_ERRORS) and all(
            "notebook_core" in frame for frame in frames
        ):
            return
        self.errors.append(f"pageerror: {error}\n{stack}")

    def assert_no_errors(self) -> None:
        """Raises ``AssertionError`` listing :attr:`errors`, if there are any."""
        if self.errors:
            raise AssertionError("errors in the browser:\n" + "\n".join(self.errors))

    def open_notebook(self, path: str, app: str = "lab", timeout: float = 60_000) -> None:
        """Opens a notebook and waits until its kernel is idle.

        Args:
            path: Relative to the server's root (what :meth:`JupyterLab.write_notebook` returns).
            app: ``"lab"`` for JupyterLab (in a workspace of its own, reset, so that no tab of an
                earlier notebook stays open), ``"notebook"`` for Notebook 7.
            timeout: Milliseconds to wait for the cells and for the kernel.

        Raises:
            ValueError: For another ``app``.
        """
        if app == "lab":
            url = f"{self.lab.url}/lab/workspaces/afnio-tests/tree/{path}?reset"
        elif app == "notebook":
            url = f"{self.lab.url}/notebooks/{path}"
        else:
            raise ValueError(f"app must be 'lab' or 'notebook', not {app!r}")
        self.page.goto(url)
        self.page.wait_for_selector(f"{self.notebook} .jp-Cell", timeout=timeout)
        self.wait_idle(timeout)

    def wait_idle(self, timeout: float = 60_000) -> None:
        """Waits until the current notebook's kernel has started and is idle."""
        self.page.wait_for_function(_KERNEL_IDLE, timeout=timeout)

    def cell(self, index: int) -> Locator:
        """The ``index``-th cell of the visible notebook."""
        return self.page.locator(f"{self.notebook} .jp-Cell").nth(index)

    def run_cell(self, index: int, wait: bool = True, timeout: float = 60_000) -> Locator:
        """Runs cell ``index`` as a user does: clicks its editor, presses Shift+Enter.

        Args:
            index: The cell, from 0.
            wait: Wait for it to finish (:meth:`wait_executed`).
            timeout: Milliseconds to wait.

        Returns:
            The cell.
        """
        cell = self.cell(index)
        self._prompts[index] = cell.locator(".jp-InputArea-prompt").inner_text()
        cell.locator(".jp-InputArea-editor").click()
        self.page.keyboard.press("Shift+Enter")
        if wait:
            self.wait_executed(index, timeout)
        return cell

    def wait_executed(self, index: int, timeout: float = 60_000) -> None:
        """Waits until cell ``index`` shows a new execution count and the kernel is idle."""
        prompt = self.cell(index).locator(".jp-InputArea-prompt")
        self.page.wait_for_function(
            _NEW_EXECUTION_COUNT,
            arg=[prompt.element_handle(), self._prompts.get(index, "")],
            timeout=timeout,
        )
        self.wait_idle(timeout)

    def output_text(self, index: int) -> str:
        """The text of cell ``index``'s outputs, joined by newlines."""
        return "\n".join(self.cell(index).locator(".jp-OutputArea-output").all_inner_texts())

    def graph(self, index: int = 0, timeout: float = 30_000) -> Locator:
        """The ``index``-th ``GraphView`` of the visible notebook, once it has drawn a node."""
        view = self.page.locator(f"{self.notebook} .afnio-graphview").nth(index)
        view.locator(".node").first.wait_for(timeout=timeout)
        return view

    def screenshot(
        self, name: str, locator: Locator | None = None, folder: Path | None = None
    ) -> Path:
        """Saves a PNG of the page, or of ``locator``, as ``folder / name``.

        Args:
            name: The file name, such as ``"graph.png"``.
            locator: What to capture; default: the page's viewport.
            folder: Default: :attr:`artifacts`; created if missing.

        Returns:
            The file's path.
        """
        path = Path(folder or self.artifacts) / name
        path.parent.mkdir(parents=True, exist_ok=True)
        target = self.page if locator is None else locator
        target.screenshot(path=str(path))
        return path


# -- saved notebooks and their HTML exports ----------------------------------------------------


def execute_notebook(cells: Iterable[str], path: Path, *, timeout: float = 120) -> Path:
    """Executes a notebook of code cells with nbclient, storing the widget state (as
    JupyterLab's "Save Widget State Automatically" does), and writes it to ``path``.

    Raises:
        RuntimeError: If a cell raised; the message names the error.
    """
    import nbclient
    import nbformat

    notebook = nbformat.from_dict(notebook_json(cells))
    client = nbclient.NotebookClient(
        notebook,
        timeout=timeout,
        kernel_name="python3",
        store_widget_state=True,
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    for cell in notebook.cells:
        for output in cell.outputs:
            if output.output_type == "error":
                raise RuntimeError(f"a cell failed: {output.ename}: {output.evalue}")
    nbformat.write(notebook, path)
    return path


def export_html(path: Path) -> Path:
    """``jupyter nbconvert --to html path``; returns the HTML file's path."""
    subprocess.run(
        [sys.executable, "-m", "nbconvert", "--to", "html", str(path)],
        check=True,
        capture_output=True,
    )
    return path.with_suffix(".html")


class _QuietFiles(SimpleHTTPRequestHandler):
    def log_message(self, *args: Any) -> None:
        pass


def serve_folder(folder: Path) -> tuple[ThreadingHTTPServer, str]:
    """Serves ``folder`` over HTTP on 127.0.0.1 (as a reader's web server would) from a daemon
    thread; returns the server (``shutdown()`` and ``server_close()`` it) and its URL."""
    handler = functools.partial(_QuietFiles, directory=str(folder))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}"


def _local_widget_script(url: str) -> Path | None:
    """The local file that answers a CDN URL an exported notebook asks for, if any."""
    name = url.split("?")[0].rsplit("/", 1)[-1]
    modules = REPO / "node_modules"
    if "/@jupyter-widgets/html-manager@" in url:
        return modules / "@jupyter-widgets" / "html-manager" / "dist" / name
    if "/anywidget@" in url:
        spec = find_spec("anywidget")
        if spec is None or not spec.submodule_search_locations:
            return None
        return Path(next(iter(spec.submodule_search_locations))) / "nbextension" / "index.js"
    if "/require.js/" in url or name in ("require.min.js", "require.js"):
        return modules / "requirejs" / "require.js"
    return None


def route_widget_scripts(context: BrowserContext) -> list[str]:
    """Keeps a browser context off the network, but for 127.0.0.1 and the widget scripts an
    exported notebook loads from CDNs: require.js, the ``@jupyter-widgets/html-manager`` embed
    script (both from ``node_modules``, devDependencies) and anywidget's front-end (from the
    installed ``anywidget`` package).

    Returns:
        The list the URLs refused are appended to.

    Raises:
        FileNotFoundError: If the html-manager is not in ``node_modules`` (``npm ci``).
    """
    embed = REPO / "node_modules" / "@jupyter-widgets" / "html-manager" / "dist" / "embed-amd.js"
    if not embed.is_file():
        raise FileNotFoundError(f"{embed} is missing: run `npm ci` (it is a devDependency).")
    refused: list[str] = []

    def route(request: Route) -> None:
        url = request.request.url
        if url.startswith(("http://127.0.0.1:", "http://localhost:")):
            request.continue_()
            return
        local = _local_widget_script(url)
        if local is not None and local.is_file():
            kind = mimetypes.guess_type(local.name)[0] or "application/octet-stream"
            request.fulfill(status=200, path=str(local), content_type=kind)
            return
        refused.append(url)
        request.abort()

    context.route("**/*", route)
    return refused
