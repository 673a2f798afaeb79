"""Every notebook runs top to bottom in a fresh kernel, offline, and is committed clean."""

import re
from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")

NOTEBOOKS = sorted((Path(__file__).parents[2] / "notebooks").glob("*.ipynb"))


@pytest.fixture
def offline(monkeypatch):
    """No key and no base URL: the notebooks must use afnio's local model server."""
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "OPENAI_ORG_ID", "OPENAI_PROJECT_ID"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AFNIO_NOTEBOOK_TEST", "1")


def test_notebooks_exist():
    assert NOTEBOOKS, "notebooks/ holds no notebook"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_committed_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [], f"{path.name}: a cell has outputs; strip them"
            assert cell.execution_count is None, f"{path.name}: execution counts left in"
    assert "widgets" not in nb.metadata, f"{path.name}: widget state left in the metadata"


def _printed(nb) -> str:
    return "".join(
        out.get("text", "")
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "stream"
    )


def _check_prompt_tuner(nb) -> None:
    """Offline, accepting the optimizer's proposal visibly raises the score."""
    printed = _printed(nb)
    assert "run 1: accuracy 0.67" in printed
    assert "v1: accuracy 1.00" in printed
    assert "≠ example 1: v0 positive | v1 negative" in printed
    # The saved widget state holds what the tuner shows, so the saved notebook shows it too.
    saved = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    tuners = [m["state"] for m in saved.values() if "results" in m["state"]]
    assert len(tuners) == 1
    assert tuners[0]["version"] == 1 and len(tuners[0]["versions"]) == 2
    assert tuners[0]["results"]["metrics"]["accuracy"] == 1.0
    assert tuners[0]["comparison"]["versions"] == [0, 1]


def _check_prompt_tuning(nb) -> None:
    """Offline the stand-ins answer as gpt-4o-mini, which is priced: the text says so, and the
    costs it prints are real amounts, not unknown."""
    text = "".join("".join(c.source) for c in nb.cells if c.cell_type == "markdown")
    assert "priced at `gpt-4o-mini`'s rates" in text
    assert "cost shows as unknown" not in text
    costs = re.findall(
        r"^\s*(forward|backward|optimizer): .* cost \$(\d+\.\d+)(.*)$", _printed(nb), re.M
    )
    assert [name for name, _, _ in costs] == ["forward", "backward", "optimizer"]
    assert all(float(amount) > 0 and rest == "" for _, amount, rest in costs)


CHECKS = {
    "03_prompt_tuning": _check_prompt_tuning,
    "05_prompt_tuning_interactive": _check_prompt_tuner,
}
"""What some notebooks must show, beyond running without errors."""


@pytest.mark.notebook
@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs(path, offline, tmp_path):
    nb = nbformat.read(path, as_version=4)
    client = nbclient.NotebookClient(
        nb,
        timeout=240,
        kernel_name="python3",
        resources={"metadata": {"path": str(path.parent)}},
    )
    client.execute()
    errors = [
        out
        for cell in nb.cells
        if cell.cell_type == "code"
        for out in cell.outputs
        if out.output_type == "error"
    ]
    assert errors == []
    if path.stem in CHECKS:
        CHECKS[path.stem](nb)


def _run(path: Path) -> str:
    nb = nbformat.read(path, as_version=4)
    nbclient.NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    return _printed(nb)


@pytest.mark.notebook
@pytest.mark.slow
def test_prompt_tuning_ends_the_same_against_a_server_with_30_percent_faults(offline, monkeypatch):
    """Faults that a real server shows (429, 500, HTML pages, cut or broken JSON) cost retries,
    never results: notebook 03 ends with the same accuracies and prompt as without them."""
    import sys

    from afnio.testing import Faults, LocalServer

    path = next(p for p in NOTEBOOKS if p.stem == "03_prompt_tuning")
    clean = _run(path)
    monkeypatch.syspath_prepend(str(path.parent))
    sys.modules.pop("offline_models", None)
    from offline_models import facility_support_model

    kinds = ("429", "500", "html", "truncated_body", "malformed_json", "truncated_json")
    # At most 3 faults per distinct request: the clients' retry budget (3) always gets through.
    faults = Faults(rate=0.3, kinds=kinds, seed=3, retry_after=0.01, max_per_request=3)
    with LocalServer(facility_support_model(), faults=faults) as server:
        monkeypatch.setenv("OPENAI_BASE_URL", server.base_url)
        monkeypatch.setenv("AFNIO_MODEL", "gpt-4o-mini")
        faulty = _run(path)
        injected = [r.fault for r in server.requests if r.fault]
    assert set(injected) == set(kinds)
    assert len(injected) >= 0.2 * len(server.requests)

    def outcome(printed: str) -> list[str]:
        return re.findall(r"^(?:validation accuracy.*|before:.*|after:.*)$", printed, re.M)

    assert outcome(clean) and outcome(faulty) == outcome(clean)
