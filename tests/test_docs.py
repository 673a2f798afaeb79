"""The Python examples of the documentation pages run, offline.

Each page's ```python blocks run in order in one namespace (in a temporary folder); blocks
marked ```python no-run (signatures, downloads, real-model calls) are only shown.
"""

import contextlib
import io
import re
from pathlib import Path

import pytest

PAGES = sorted((Path(__file__).parents[1] / "docs").glob("*.md"))


def _blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.DOTALL)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_examples_run(page, tmp_path, monkeypatch):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AFNIO_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"__docs_{page.stem}__"}
    for i, block in enumerate(_blocks(page)):
        with contextlib.redirect_stdout(io.StringIO()):
            exec(compile(block, f"{page.name}[python block {i}]", "exec"), namespace)
