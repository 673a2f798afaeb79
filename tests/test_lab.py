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
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
        log.close()
