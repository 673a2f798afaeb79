"""The distribution a user installs: typed, licensed, and complete without Node.js.

A wheel is built from the sdist (as ``pip install afnio-*.tar.gz`` does) with no ``node`` on PATH,
installed into a folder of its own, and imported from there: its widgets must serve the bundle
that the sdist shipped.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from pathlib import Path

import pytest

tomllib = pytest.importorskip("tomllib")  # Python 3.11+

ROOT = Path(__file__).resolve().parents[1]


def _pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


# Every bundle the build hook ensures: the ones the widgets load.
BUNDLES = tuple(
    Path(target).name
    for target in _pyproject()["tool"]["hatch"]["build"]["hooks"]["jupyter-builder"][
        "ensured-targets"
    ]
)


def test_every_bundle_the_widgets_load_is_ensured() -> None:
    loaded = set()
    for module in (ROOT / "afnio_widgets").glob("*.py"):
        text = module.read_text()
        loaded.update(re.findall(r'= bundle\("([\w.]+)"\)', text))
        loaded.update(re.findall(r'bundle_name = "([\w.]+)"', text))  # through the shared Bundle
    assert {"widget.js", "tuner.js", "loader.js", "training.js", "gradmode.js"} <= loaded
    assert loaded <= set(BUNDLES)


def test_both_packages_are_typed_and_licensed() -> None:
    assert (ROOT / "afnio" / "py.typed").is_file()
    assert (ROOT / "afnio_widgets" / "py.typed").is_file()
    license_text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in license_text and "Version 2.0, January 2004" in license_text
    project = _pyproject()["project"]
    assert project["license"] == {"text": "Apache-2.0"}
    classifiers = project["classifiers"]
    assert "License :: OSI Approved :: Apache Software License" in classifiers
    assert "Typing :: Typed" in classifiers
    lowest = project["requires-python"].removeprefix(">=")
    assert f"Programming Language :: Python :: {lowest}" in classifiers


def _no_node_path(tmp: Path) -> str:
    """PATH with no ``node`` and no ``npm``: every directory holding one is replaced by a folder
    of links to the rest of its programs."""
    kept = []
    for index, entry in enumerate(os.environ.get("PATH", "").split(os.pathsep)):
        folder = Path(entry)
        if not ((folder / "node").exists() or (folder / "npm").exists()):
            kept.append(entry)
            continue
        mirror = tmp / f"path{index}"
        mirror.mkdir()
        for program in folder.iterdir():
            if program.name not in ("node", "nodejs", "npm", "npx") and program.is_file():
                (mirror / program.name).symlink_to(program)
        kept.append(str(mirror))
    return os.pathsep.join(kept)


@pytest.mark.slow
def test_a_wheel_built_from_the_sdist_without_node_serves_its_bundles(tmp_path: Path) -> None:
    if not all((ROOT / "afnio_widgets" / "static" / name).is_file() for name in BUNDLES):
        pytest.fail("the bundles are not built: run `make env` (or `npm run build`) first")
    dist = tmp_path / "dist"
    subprocess.run(
        [sys.executable, "-m", "build", "--sdist", "--outdir", str(dist), str(ROOT)],
        check=True,
        capture_output=True,
    )
    (sdist,) = dist.glob("afnio-*.tar.gz")
    with tarfile.open(sdist) as archive:
        names = archive.getnames()
    top = names[0].split("/")[0]
    for name in BUNDLES:
        assert f"{top}/afnio_widgets/static/{name}" in names
    assert f"{top}/LICENSE" in names and f"{top}/afnio/py.typed" in names
    assert f"{top}/docs/img/graphview.png" in names  # the README's pictures

    env = {**os.environ, "PATH": _no_node_path(tmp_path)}
    assert shutil.which("node", path=env["PATH"]) is None
    assert shutil.which("npm", path=env["PATH"]) is None
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-w", str(dist), str(sdist)],
        env=env,
        capture_output=True,
        text=True,
    )
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (wheel,) = dist.glob("afnio-*.whl")
    with zipfile.ZipFile(wheel) as archive:
        inside = set(archive.namelist())
    for name in BUNDLES:
        assert f"afnio_widgets/static/{name}" in inside
    assert {"afnio/py.typed", "afnio_widgets/py.typed"} <= inside

    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "--target", str(target), str(wheel)],
        env=env,
        check=True,
        capture_output=True,
    )
    probe = (
        "import pathlib, afnio, afnio_widgets\n"
        "from afnio_widgets._assets import bundle\n"
        "from afnio_widgets import GraphView\n"
        "print(pathlib.Path(afnio_widgets.__file__).parent)\n"
        "print(bundle('widget.js'))\n"
        "view = GraphView()\n"
        "print(len(view._bundle.code), len(view._esm))\n"
    )
    shown = subprocess.run(
        [sys.executable, "-c", probe],
        env={**env, "PYTHONPATH": str(target)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert shown.returncode == 0, shown.stderr[-2000:]
    home, served, lengths = shown.stdout.split("\n")[:3]
    assert Path(home) == target / "afnio_widgets"
    assert Path(served) == target / "afnio_widgets" / "static" / "widget.js"
    code_length, esm_length = map(int, lengths.split())
    static = ROOT / "afnio_widgets" / "static"
    assert code_length == (static / "widget.js").stat().st_size
    assert esm_length == (static / "loader.js").stat().st_size


def test_a_users_strict_mypy_sees_afnio_types(tmp_path: Path) -> None:
    """With py.typed, mypy reads afnio's annotations instead of treating every name as Any."""
    pytest.importorskip("mypy")
    user = tmp_path / "user.py"
    user.write_text(
        'import afnio\n\nx = afnio.Variable("a", role="r")\nreveal_type(x)\nx.no_such_method()\n'
    )
    done = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", str(user)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
    )
    assert 'Revealed type is "afnio._variable.Variable"' in done.stdout, done.stdout
    assert '"Variable" has no attribute "no_such_method"' in done.stdout
    assert "missing library stubs or py.typed marker" not in done.stdout
