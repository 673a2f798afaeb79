"""The README's Python code blocks are real: each runs, in order, in one namespace."""

import re
from pathlib import Path

README = Path(__file__).parents[1] / "README.md"


def _python_blocks():
    text = README.read_text(encoding="utf-8")
    return re.findall(r"```python\n(.*?)```", text, flags=re.DOTALL)


def test_readme_has_python_examples():
    assert _python_blocks()


def test_readme_python_blocks_run(monkeypatch, capsys):
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    namespace: dict = {"__name__": "__readme__"}
    for i, block in enumerate(_python_blocks()):
        code = compile(block, f"README.md[python block {i}]", "exec")
        exec(code, namespace)
    out = capsys.readouterr().out
    assert "SumBackward0" in out
