"""The Python examples of the documentation pages run, offline, as a reader would run them.

Each ```python block runs alone unless it says it continues the page (see
:mod:`tests.docs_examples`), and what it prints or shows must match the comments beside it;
blocks marked ```python no-run (signatures, downloads, real-model calls) are only shown.
"""

from pathlib import Path

import pytest
from docs_examples import blocks, run_block, run_page

PAGES = sorted((Path(__file__).parents[1] / "docs").glob("*.md"))


@pytest.fixture(autouse=True)
def offline(monkeypatch, tmp_path):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AFNIO_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize("page", PAGES, ids=lambda p: p.name)
def test_page_examples_run_and_show_what_they_say(page):
    run_page(page.read_text(encoding="utf-8"), page.name)


def test_values_in_comments_are_checked(tmp_path):
    page = "```python\nx = 1 + 1\nx                # 2\nprint(x * 3)     # 6: six\n```\n"
    (checked,) = run_page(page, "page.md")
    assert checked.checked == ["2", "6: six"]
    with pytest.raises(AssertionError, match="the comment says '3'"):
        run_page("```python\n1 + 1   # 3\n```\n", "wrong.md")
    with pytest.raises(NameError):  # a block that does not say it continues runs alone
        run_page("```python\nx = 1\n```\n\n```python\nprint(x)\n```\n", "alone.md")
    run_page(
        "```python\nx = 1\n```\n\n```python\n# continues the example above\nx  # 1\n```\n", "c.md"
    )


def test_a_block_that_does_not_say_it_continues_runs_alone():
    found = [(page, block) for page in PAGES for block in blocks(page.read_text("utf-8"))]
    assert len(found) >= 30
    for page, block in found:
        if not block.continues:
            run_block(block, {"__name__": "__alone__"}, f"{page.name}, line {block.line}")
