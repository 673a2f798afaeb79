"""The browser benchmarks report ``unavailable``, with the reason, where no browser can run."""

from __future__ import annotations

from pathlib import Path
from types import ModuleType

import pytest

from benchmarks import saved_notebooks, widgets


@pytest.mark.parametrize(
    ("benchmark", "tables", "what"),
    [(widgets, ["rows", "live"], "widget"), (saved_notebooks, ["rows", "load"], "saved-notebook")],
)
def test_without_chromium_the_benchmark_is_unavailable(
    benchmark: ModuleType,
    tables: list[str],
    what: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    missing = tmp_path / "no-chromium"
    monkeypatch.setenv("AFNIO_CHROMIUM", str(missing))
    result = benchmark.run(quick=True)
    assert list(result) == ["title", "workload", "status", *tables, "notes"]
    assert result["title"] == benchmark.TITLE
    assert result["status"] == "unavailable"
    assert all(result[name] == [] for name in tables)
    assert result["notes"] == [
        f"{what} benchmark not run: Chromium is not installed at {missing} "
        "(`make system-deps` or `apt-get install chromium`; AFNIO_CHROMIUM names another)."
    ]
    assert result["workload"]
