"""End-to-end fixtures: one JupyterLab server per session, Playwright with Debian's Chromium.

The harness is ``tests/browser/jupyter_lab.py``: JupyterLab runs as a child process on 127.0.0.1
with its own folders and a temporary root folder; tests write notebooks there, open them like a
user, run cells with Shift+Enter and read the outputs. Console errors and page errors fail the
test. Without Chromium (or another prerequisite) the tests are skipped with a loud message,
except under ``CI=true``, where they fail.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.browser.jupyter_lab import JupyterLab, LabPage, launch_chromium, missing_prerequisites

REPO = Path(__file__).resolve().parents[2]
ARTIFACTS = REPO / "test-artifacts" / "browser"


def _require_prerequisites() -> None:
    reason = missing_prerequisites()
    if reason is None:
        return
    message = f"the browser tests cannot run: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(message)
    banner = "#" * 78
    sys.stderr.write(f"\n{banner}\n# SKIPPING BROWSER TESTS: {message}\n{banner}\n")
    pytest.skip(message)


@pytest.fixture(scope="session")
def lab() -> Iterator[JupyterLab]:
    _require_prerequisites()
    with JupyterLab(pythonpath=[REPO]) as server:
        yield server


@pytest.fixture(scope="module")
def browser(lab: JupyterLab) -> Iterator[Any]:
    # Module scope: Playwright's sync API keeps an event loop running in this thread while it
    # is open, which would break later tests that call asyncio.run().
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        browser = launch_chromium(p)
        yield browser
        browser.close()


@pytest.fixture
def page(browser: Any, lab: JupyterLab, request: pytest.FixtureRequest) -> Iterator[LabPage]:
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    tab = LabPage(context.new_page(), lab, artifacts=ARTIFACTS)
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
    tab.assert_no_errors()


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
