"""The JupyterLab + Playwright harness (tests/browser/jupyter_lab.py) without a browser:
notebooks, prerequisites, Chromium's options, errors; and afnio.testing no longer ships it."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
import urllib.request
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from tests.browser import jupyter_lab as jupyter
from tests.browser.jupyter_lab import (
    CHROMIUM_ARGS,
    JupyterLab,
    LabPage,
    launch_chromium,
    missing_prerequisites,
    notebook_json,
)


def test_afnio_testing_does_not_ship_the_browser_harness():
    import afnio.testing

    assert importlib.util.find_spec("afnio.testing.jupyter") is None
    assert not (Path(afnio.testing.__file__).parent / "jupyter.py").exists()
    assert not any("jupyter" in name.lower() for name in afnio.testing.__all__)


def test_importing_the_harness_imports_neither_playwright_nor_jupyterlab():
    code = (
        "import sys, afnio.testing, tests.browser.jupyter_lab\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in "
        "('playwright', 'jupyterlab', 'jupyter_server', 'nbformat')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"


def test_write_notebook_writes_a_valid_notebook_of_code_cells(tmp_path):
    nbformat = pytest.importorskip("nbformat")
    lab = JupyterLab(root=tmp_path)
    cells = ["import afnio", "x = 1\nx + 1", "print('ünïcode \"quoted\"')"]
    assert lab.write_notebook("sub/demo.ipynb", cells) == "sub/demo.ipynb"
    notebook = nbformat.read(tmp_path / "sub" / "demo.ipynb", as_version=4)
    nbformat.validate(notebook)
    assert [cell.source for cell in notebook.cells] == cells
    assert {cell.cell_type for cell in notebook.cells} == {"code"}
    assert all(cell.outputs == [] and cell.execution_count is None for cell in notebook.cells)
    assert notebook.metadata.kernelspec.name == "python3"


def test_notebook_json_gives_every_cell_its_own_id():
    ids = [cell["id"] for cell in notebook_json(["a", "b", "c"])["cells"]]
    assert len(set(ids)) == 3


def test_a_lab_that_was_not_started_says_so():
    lab = JupyterLab()
    with pytest.raises(RuntimeError, match="before start"):
        lab.url
    with pytest.raises(RuntimeError, match="root"):
        lab.write_notebook("x.ipynb", [])
    assert not lab.running
    lab.stop()  # nothing to stop: no error


@pytest.fixture
def chromium(tmp_path, monkeypatch) -> Path:
    binary = tmp_path / "chromium"
    binary.write_text("")
    monkeypatch.setenv("AFNIO_CHROMIUM", str(binary))
    return binary


def test_missing_chromium_is_named_with_how_to_install_it(tmp_path, monkeypatch):
    monkeypatch.setenv("AFNIO_CHROMIUM", str(tmp_path / "no-chromium"))
    reason = missing_prerequisites()
    assert reason is not None
    assert str(tmp_path / "no-chromium") in reason and "apt-get install chromium" in reason


def test_chromium_defaults_to_debians_path(monkeypatch):
    monkeypatch.delenv("AFNIO_CHROMIUM", raising=False)
    assert jupyter.chromium_path() == jupyter.CHROMIUM_PATH == "/usr/bin/chromium"


def test_a_missing_package_is_named(chromium, monkeypatch):
    def find_spec(name: str) -> Any:
        return None if name == "playwright" else SimpleNamespace()

    monkeypatch.setattr(jupyter, "find_spec", find_spec)
    reason = missing_prerequisites()
    assert reason is not None and "`playwright` is not installed" in reason


def test_an_unbuilt_widget_bundle_is_named(chromium, tmp_path, monkeypatch):
    package = tmp_path / "afnio_widgets"
    (package / "static").mkdir(parents=True)

    def find_spec(name: str) -> Any:
        return SimpleNamespace(submodule_search_locations=[str(package)])

    monkeypatch.setattr(jupyter, "find_spec", find_spec)
    reason = missing_prerequisites()
    assert reason is not None and "widget.js" in reason and "make js" in reason
    (package / "static" / "widget.js").write_text("")
    assert missing_prerequisites() is None


def test_launch_chromium_uses_the_system_binary_and_quiet_flags(chromium):
    launched: dict[str, Any] = {}
    playwright: Any = SimpleNamespace(chromium=SimpleNamespace(launch=launched.update))
    launch_chromium(playwright, args=["--lang=en"], slow_mo=5)
    assert launched == {
        "executable_path": str(chromium),
        "headless": True,
        "slow_mo": 5,
        "args": [*CHROMIUM_ARGS, "--lang=en"],
    }
    assert "--disable-background-networking" in CHROMIUM_ARGS


class FakePage:
    """Enough of a Playwright page to register listeners and fire events at them."""

    def __init__(self) -> None:
        self.listeners: dict[str, Any] = {}

    def on(self, event: str, listener: Any) -> None:
        self.listeners[event] = listener


class FakeError(Exception):
    def __init__(self, message: str, stack: str) -> None:
        super().__init__(message)
        self.stack = stack


def test_page_collects_errors_but_not_the_sandboxs_or_notebook_7s_own():
    fake = FakePage()
    page = LabPage(fake, JupyterLab())
    console = fake.listeners["console"]
    page_error = fake.listeners["pageerror"]
    console(SimpleNamespace(type="error", text="Failed to load resource: net::ERR_FAILED"))
    console(SimpleNamespace(type="error", text="GET /favicon.ico 404"))
    console(SimpleNamespace(type="warning", text="just a warning"))
    own = "    at f (http://127.0.0.1:1/static/notebook_core.abc.js:1:2)"
    page_error(FakeError("Cannot read properties of undefined (reading 'schema')", f"E\n{own}"))
    page.assert_no_errors()

    console(SimpleNamespace(type="error", text="widget failed"))
    ours = "    at g (http://127.0.0.1:1/static/widget.js:3:4)"
    page_error(FakeError("Cannot read properties of undefined (reading 'schema')", f"E\n{ours}"))
    fake.listeners["dialog"](SimpleNamespace(message="hello"))
    assert len(page.errors) == 3
    assert page.errors[0] == "console.error: widget failed"
    assert page.errors[1].startswith("pageerror:") and "widget.js" in page.errors[1]
    assert page.errors[2] == "dialog: hello"
    with pytest.raises(AssertionError, match="widget failed"):
        page.assert_no_errors()


def test_open_notebook_knows_two_apps():
    page = LabPage(FakePage(), JupyterLab())
    with pytest.raises(ValueError, match="'lab' or 'notebook'"):
        page.open_notebook("x.ipynb", app="voila")


@pytest.mark.slow
def test_a_lab_starts_serves_its_root_and_cleans_up():
    pytest.importorskip("jupyterlab")
    with JupyterLab() as lab:
        base = lab.root.parent
        lab.write_notebook("served.ipynb", ["1 + 1"])
        with urllib.request.urlopen(f"{lab.url}/api/contents/served.ipynb", timeout=10) as r:
            assert json.load(r)["type"] == "notebook"
        lab.shutdown_kernels()  # none running: nothing to do
        assert lab.running
    assert not lab.running and not base.exists()
