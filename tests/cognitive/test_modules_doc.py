"""The Python blocks of docs/modules.md run, in order, in one namespace (offline)."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).parents[2] / "docs" / "modules.md"


def test_doc_python_blocks_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert blocks
    namespace: dict = {"__name__": "__doc__"}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{DOC.name}[python block {i}]", "exec"), namespace)
    out = capsys.readouterr().out
    # what the page's comments claim
    assert [n for n, _ in namespace["agent"].named_parameters()] == ["system_prompt", "topics"]
    assert list(namespace["sd"]) == ["system_prompt", "topics", "separator", "messages", "args"]
    assert "Cannot save the function registered as 'eval_fn'" in out
    assert not (tmp_path / "judge.hf").exists()
