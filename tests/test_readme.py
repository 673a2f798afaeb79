"""The README is real: its Python blocks run in order (offline), print what their comments say,
and every picture and link it points to exists."""

import re
from pathlib import Path

ROOT = Path(__file__).parents[1]
README = ROOT / "README.md"


def _python_blocks():
    text = README.read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_has_python_examples():
    assert len(_python_blocks()) >= 2


def test_readme_python_blocks_run(monkeypatch, capsys, tmp_path):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AFNIO_MODEL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": "__readme__"}
    for i, block in enumerate(_python_blocks()):
        exec(compile(block, f"README.md[python block {i}]", "exec"), namespace)
    out = capsys.readouterr().out
    for shown in (
        "<ITEM>Hello</ITEM><ITEM>world</ITEM>",
        "SumBackward0",
        "Address the reader by name.",
        "The capital of France is Paris",
        "Require a one-word answer.",
        "You are a geography assistant. Answer with one word only.",
        "\nParis\n",
        "forward gpt-4o-mini",
        "backward gpt-4o-mini",
    ):
        assert shown in out


def test_readme_pictures_and_links_exist():
    text = README.read_text(encoding="utf-8")
    targets = re.findall(r"\]\(([^)#]+)\)", text)
    local = [t for t in targets if not t.startswith("http")]
    assert local
    missing = [t for t in local if not (ROOT / t).exists()]
    assert missing == []
