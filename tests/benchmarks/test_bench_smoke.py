"""Smoke test of ``make bench``: every benchmark still runs, at a tiny size.

Benchmarks are not tests: nothing here looks at a time. It checks that ``python -m benchmarks
--quick`` exits cleanly and writes, for every benchmark, the figures the full run publishes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from benchmarks import BENCHMARKS

REPO = Path(__file__).resolve().parents[2]

# The quick run starts servers, clients and a browser in processes of their own: on a busy
# two-core machine it can take several minutes.
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, str]:
    output = tmp_path_factory.mktemp("bench") / "results.json"
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--output", str(output)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return json.loads(output.read_text()), done.stdout


def test_every_benchmark_ran(quick_run: tuple[dict, str]) -> None:
    report, stdout = quick_run
    assert list(report["benchmarks"]) == list(BENCHMARKS)
    for name, result in report["benchmarks"].items():
        assert "error" not in result, (name, result.get("error"))
        assert result["workload"], name
        assert f"[{name}]" in stdout


def test_report_names_machine_and_versions(quick_run: tuple[dict, str]) -> None:
    report, _ = quick_run
    assert report["quick"] is True
    for key in ("cpu", "cores", "ram_gib", "os"):
        assert report["machine"][key], key
    for key in ("python", "afnio", "openai", "torch"):
        assert report["versions"][key], key
    assert report["date"]


def test_step_figures(quick_run: tuple[dict, str]) -> None:
    step = quick_run[0]["benchmarks"]["step"]
    rows = step["rows"]
    local = [r["batch"] for r in rows if r["config"] == "defaults" and r["server"] == "local"]
    assert local == [1, 2]
    # The largest batch against the second server flavour too.
    assert [r["batch"] for r in rows if r["server"] == "plain"] == [2]
    for row in rows:
        # Forward 2 levels, backward 3 (evaluator, stage 2, stage 1), optimizer 1.
        assert row["critical_path"] == 6
        assert row["calls"] == 4 * row["batch"] + 3
        assert row["bound_s"] > 0 and row["wall_s"] > 0 and row["ratio"] > 0
        assert row["log_depth"] >= row["critical_path"]
    assert step["diagnosis"]["profile"]["by_package"]
    assert step["diagnosis"]["variants"]


def test_throughput_figures(quick_run: tuple[dict, str]) -> None:
    result = quick_run[0]["benchmarks"]["throughput"]
    ran = {(r["server"], r["client"]) for r in result["rows"]}
    for server in ("plain",):
        for client in ("afnio-achat", "afnio-op", "sdk-httpx", "sdk-aiohttp", "sdk-aiohttp-post"):
            assert (server, client) in ran
    for row in result["rows"]:
        assert row["requests"] == result["requests"]
        assert row["calls_per_s"] > 0 and row["cpu_ms_per_call"] > 0
    if not any(r["client"] == "litellm" for r in result["rows"]):
        assert result["notes"]


def test_textgrad_half_reports_its_status(quick_run: tuple[dict, str]) -> None:
    result = quick_run[0]["benchmarks"]["textgrad"]
    assert result["status"] in ("ok", "skipped", "unavailable", "failed")
    for row in result["rows"]:
        assert row["afnio_calls"] == 4 * row["batch"] + 3
        if result["status"] == "ok":
            # Per sample: two forward calls and four backward calls; two optimizer calls.
            assert row["textgrad_calls"] == 6 * row["batch"] + 2
    if result["status"] != "ok":
        assert result["notes"]


def test_engine_figures(quick_run: tuple[dict, str]) -> None:
    result = quick_run[0]["benchmarks"]["engine"]
    for row in result["rows"]:
        assert row["nodes"] % 5 == 1
        assert row["afnio_forward_us"] > 0 and row["torch_backward_us"] > 0
        assert row["peak_mib"] > 0
    assert set(result["scaling_exponent"]) == {
        "afnio_forward",
        "afnio_backward",
        "torch_forward",
        "torch_backward",
    }
    assert result["profile"]["top_tottime"]


def test_second_cached_run_sends_nothing(quick_run: tuple[dict, str]) -> None:
    for row in quick_run[0]["benchmarks"]["cache"]["rows"]:
        assert row["run1_requests"] == row["model_calls"] > 0
        assert row["run2_requests"] == 0
        assert row["run2_cache_hits"] == row["model_calls"]


def test_widgets_report_their_status(quick_run: tuple[dict, str]) -> None:
    result = quick_run[0]["benchmarks"]["widgets"]
    assert result["status"] in ("ok", "unavailable")
    if result["status"] == "ok":
        assert all(row["drawn_s"] > 0 for row in result["rows"])
    else:
        assert result["notes"]


def test_saved_notebook_figures(quick_run: tuple[dict, str]) -> None:
    result = quick_run[0]["benchmarks"]["saved"]
    assert result["status"] in ("ok", "unavailable")
    if result["status"] == "ok":
        assert 0 < result["per_view_bytes"] < 150 * 1024
        assert result["load"][0]["drawn_s"] > 0
