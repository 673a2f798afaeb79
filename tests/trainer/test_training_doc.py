"""The Python blocks of docs/training.md run, in order, in one namespace (offline)."""

from __future__ import annotations

import re
from pathlib import Path

DOC = Path(__file__).parents[2] / "docs" / "training.md"


def test_doc_python_blocks_run(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(encoding="utf-8"), flags=re.DOTALL)
    assert blocks
    namespace: dict = {"__name__": "__doc__"}
    for i, block in enumerate(blocks):
        exec(compile(block, f"{DOC.name}[python block {i}]", "exec"), namespace)
    capsys.readouterr()
    # what the page's comments claim
    assert namespace["prompt"].data == "Reply in one word."
    assert namespace["agent"].instructions.data == "Classify the sentiment; sarcasm is negative."
    assert namespace["result"]["val"]["accuracy"] == 1.0
    assert namespace["result"]["epochs"][0]["batches"] == 2
    assert namespace["resumed"].instructions.data == namespace["agent"].instructions.data
    assert (tmp_path / "runs" / "sentiment" / "metrics.jsonl").exists()
