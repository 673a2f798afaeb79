"""The README is real: each of its Python blocks runs on its own (offline) and prints what its
comments say, and every picture and link it points to exists."""

import re
from pathlib import Path

from docs_examples import blocks, run_page

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"


def _python_blocks():
    return blocks(README.read_text(encoding="utf-8"))


def test_readme_has_python_examples():
    assert len(_python_blocks()) >= 2


def test_readme_python_blocks_run_alone_and_show_what_they_say(monkeypatch, capsys, tmp_path):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AFNIO_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    found = run_page(README.read_text(encoding="utf-8"), "README.md")
    assert not any(block.continues for block in found)  # each quickstart block runs as is
    assert sum(len(block.checked) for block in found) >= 6
    out = capsys.readouterr().out
    for shown in ("forward gpt-4o-mini", "backward gpt-4o-mini"):
        assert shown in out


def test_readme_pictures_and_links_exist():
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#]+)\)", text)
    local = [t for t in targets if not t.startswith("http")]
    assert local
    missing = [t for t in local if not (ROOT / t).exists()]
    assert missing == []
    # Relative pictures break where the README is shown alone (a package index): it says where
    # they live, and the sdist ships them (tests/test_packaging.py).
    pictures = re.findall(r"!\[[^\]]*\]\(([^)]+)\)", text)
    if any(not p.startswith("http") for p in pictures):
        assert "The pictures on this page live in `docs/img/`" in text
