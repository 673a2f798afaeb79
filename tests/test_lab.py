"""`make lab`'s launcher starts JupyterLab on notebooks/ and serves them."""

import json
import os
import re
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[1]

pytest.importorskip("jupyterlab")


def _free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_lab_serves_the_notebooks(tmp_path):
    port = _free_port()
    env = {
        **os.environ,
        "JUPYTER_CONFIG_DIR": str(tmp_path / "config"),
        "JUPYTER_RUNTIME_DIR": str(tmp_path / "runtime"),
        "JUPYTER_DATA_DIR": str(Path(sys.prefix) / "share" / "jupyter"),
        "IPYTHONDIR": str(tmp_path / "ipython"),
    }
    env.pop("DISPLAY", None)
    log = (tmp_path / "lab.log").open("w+")
    proc = subprocess.Popen(
        ["bash", "scripts/lab.sh", str(port), "notebooks"],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        token, deadline = None, time.monotonic() + 60
        while token is None and time.monotonic() < deadline:
            assert proc.poll() is None, (tmp_path / "lab.log").read_text()
            match = re.search(
                rf"127\.0\.0\.1:{port}/lab\?token=(\w+)", (tmp_path / "lab.log").read_text()
            )
            token = match.group(1) if match else None
            time.sleep(0.2)
        assert token, "JupyterLab did not print its URL"
        url = f"http://127.0.0.1:{port}/api/contents/?token={token}"
        with urllib.request.urlopen(url, timeout=10) as response:
            listing = json.load(response)
        names = {item["name"] for item in listing["content"]}
        expected = {p.name for p in (ROOT / "notebooks").glob("*.ipynb")}
        assert expected and expected <= names
        text = (tmp_path / "lab.log").read_text()
        assert "offline" in text or "OPENAI" in os.environ.get("OPENAI_API_KEY", "")
        # Kernels inherit the server's environment: PATH must reach them as it was given
        # (Debian's node lives in /usr/bin, beside ls, git and dot).
        environ = Path(f"/proc/{proc.pid}/environ")
        if environ.exists():
            variables = dict(
                item.split("=", 1) for item in environ.read_text().split("\0") if "=" in item
            )
            assert variables["PATH"] == env["PATH"]
        # JupyterLab neither checks for nor offers a rebuild (the bundles are prebuilt).
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/lab?token={token}") as response:
            page = response.read().decode()
        assert '"buildCheck": false' in page and '"buildAvailable": false' in page
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()


def _fake_programs(folder: Path, **scripts: str) -> None:
    folder.mkdir()
    for name, body in scripts.items():
        program = folder / name
        program.write_text(f"#!/bin/bash\n{body}\n")
        program.chmod(0o755)


def _ensure(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "scripts/ensure-system-deps.sh"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
    )


def test_ensure_system_deps_says_what_it_does_and_why_before_doing_it(tmp_path):
    bin_dir = tmp_path / "bin"
    _fake_programs(bin_dir, id="echo 0", **{"apt-get": 'echo "apt-get ran: $*"'})
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "AFNIO_CHROMIUM": str(tmp_path / "no-chromium"),
        "AFNIO_DOT": str(tmp_path / "no-dot"),
    }
    done = _ensure(env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    why = next(i for i, line in enumerate(lines) if "browser tests" in line)
    why_dot = next(i for i, line in enumerate(lines) if "renders to_dot" in line)
    plan = next(i for i, line in enumerate(lines) if "apt-get install -y chromium graphviz" in line)
    ran = [i for i, line in enumerate(lines) if line.startswith("apt-get ran:")]
    assert why < plan and why_dot < plan < ran[0], done.stdout  # said first, then done
    assert lines[ran[0]] == "apt-get ran: update"
    assert lines[ran[1]] == "apt-get ran: install -y chromium graphviz"


def test_ensure_system_deps_installs_only_what_is_missing(tmp_path):
    bin_dir = tmp_path / "bin"
    _fake_programs(bin_dir, id="echo 0", dot="exit 0", **{"apt-get": 'echo "apt-get ran: $*"'})
    env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "AFNIO_CHROMIUM": str(tmp_path / "no-chromium")}
    done = _ensure(env)
    assert done.returncode == 0, done.stderr
    assert "apt-get ran: install -y chromium" in done.stdout.splitlines()
    assert "graphviz" not in done.stdout


def test_ensure_system_deps_does_nothing_when_everything_is_there(tmp_path):
    chromium = tmp_path / "chromium"
    _fake_programs(tmp_path / "bin", dot="exit 0", **{"apt-get": "exit 3"})
    chromium.write_text("#!/bin/sh\n")
    chromium.chmod(0o755)
    env = {"PATH": f"{tmp_path / 'bin'}:/usr/bin:/bin", "AFNIO_CHROMIUM": str(chromium)}
    done = _ensure(env)
    assert (done.returncode, done.stdout) == (0, "")


def test_ensure_system_deps_fails_in_ci_when_it_cannot_install(tmp_path):
    bin_dir = tmp_path / "bin"
    _fake_programs(bin_dir, id="echo 1000", dot="exit 0")
    env = {
        "PATH": f"{bin_dir}:/usr/bin:/bin",
        "AFNIO_CHROMIUM": str(tmp_path / "no-chromium"),
        "CI": "true",
    }
    done = _ensure(env)
    assert done.returncode == 1
    assert "chromium missing and cannot be installed (not root)" in done.stderr
    env["CI"] = ""
    done = _ensure(env)
    assert done.returncode == 0
    assert "will be SKIPPED" in done.stdout


def _make(*args: str) -> str:
    return subprocess.run(
        ["make", "-n", *args], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout


@pytest.mark.skipif(not (ROOT / "node_modules").is_dir(), reason="needs `make env` first")
def test_make_lab_installs_only_the_lab_and_rebuilds_js_only_when_it_changed(tmp_path):
    plan = _make("lab", "VENV=" + str(tmp_path / "venv"))
    assert '-e ".[lab]"' in plan
    assert ".[test]" not in plan and "torch" not in plan
    # With the bundles newer than every source, neither command rebuilds them...
    if (ROOT / "afnio_widgets" / "static" / "widget.js").is_file() and "npm run build" not in _make(
        "js"
    ):
        assert "npm run build" not in plan
    # ...and a changed source makes both rebuild them.
    touched = "js/gradmode.js"  # as the Makefile names it
    plan_after = _make("js", "-W", touched)
    assert "npm run build" in plan_after
    assert "npm run build" in _make("lab", "-W", touched, "VENV=" + str(tmp_path / "venv"))
