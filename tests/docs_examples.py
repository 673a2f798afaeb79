"""Runs the Python examples of a Markdown page as a reader would, and checks what they show.

* Every ```python block runs alone, in a fresh namespace, unless its first line is a comment
  starting with ``# continues`` (e.g. ``# continues the example above (`server`)``): then it runs
  after the blocks before it on the page, with every name they defined, as the reader was told.
  ```python no-run blocks are only shown (signatures, downloads, calls to a real model).
* A top-level ``print(...)`` or expression whose line ends with a comment, or which is followed
  by comment lines, is checked against them: what it prints (or the ``repr`` of the expression's
  value) must match the comment, where ``...`` stands for any text and whitespace is normalised.
  A comment may go on after the value with ``: `` and an explanation (``# 2: used twice``).
  Expressions whose value is ``None`` are calls made for their effect: their comments are prose.
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
import sys
import tokenize
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Block", "blocks", "run_page"]

_FENCE = re.compile(r"^```python([^\n]*)\n(.*?)^```", flags=re.DOTALL | re.MULTILINE)


@dataclass
class Block:
    code: str
    line: int  # of the page, where the code starts
    continues: bool
    checked: list[str] = field(default_factory=list)


def blocks(text: str) -> list[Block]:
    """The runnable Python blocks of a Markdown ``text``."""
    found = []
    for match in _FENCE.finditer(text):
        if "no-run" in match.group(1):
            continue
        code = match.group(2)
        first = code.lstrip().splitlines()[0] if code.strip() else ""
        line = text.count("\n", 0, match.start(2)) + 1
        found.append(Block(code, line, first.lower().startswith("# continues")))
    return found


def _comments(code: str) -> dict[int, tuple[int, str]]:
    """Line number -> (column, text without ``#``) of the comment on that line."""
    out = {}
    for token in tokenize.generate_tokens(io.StringIO(code).readline):
        if token.type == tokenize.COMMENT:
            out[token.start[0]] = (token.start[1], token.string[1:].strip())
    return out


def _expected(
    statement: ast.stmt, lines: list[str], comments: dict[int, tuple[int, str]]
) -> str | None:
    """The comment beside ``statement`` (continued on comment lines aligned under it), or the
    comment lines right after it."""

    def comment_only(number: int) -> bool:
        return number <= len(lines) and lines[number - 1].lstrip().startswith("#")

    end = statement.end_lineno or statement.lineno
    parts = []
    number = end + 1
    if end in comments and not comment_only(end):
        column, text = comments[end]
        parts.append(text)
        while comment_only(number) and comments[number][0] == column:
            parts.append(comments[number][1])
            number += 1
    else:
        while comment_only(number):
            parts.append(comments[number][1])
            number += 1
    return " ".join(parts) if parts else None


def _normalise(text: str) -> str:
    return " ".join(text.split())


def _matches(actual: str, expected: str) -> bool:
    actual = _normalise(actual)
    candidates = [expected]
    for cut in re.finditer(r": ", expected):
        candidates.append(expected[: cut.start()])
    for candidate in candidates:
        parts = [re.escape(part) for part in _normalise(candidate).split("...")]
        if re.fullmatch(".*?".join(parts), actual, flags=re.DOTALL):
            return True
    return False


def _is_print(statement: ast.stmt) -> bool:
    return (
        isinstance(statement, ast.Expr)
        and isinstance(statement.value, ast.Call)
        and isinstance(statement.value.func, ast.Name)
        and statement.value.func.id == "print"
    )


def run_block(block: Block, namespace: dict[str, Any], where: str) -> None:
    """Runs ``block`` statement by statement in ``namespace``; raises ``AssertionError`` when
    something shown differs from its comment."""
    tree = ast.parse(block.code, filename=where)
    lines = block.code.splitlines()
    comments = _comments(block.code)
    for statement in tree.body:
        expected = _expected(statement, lines, comments)
        printed = io.StringIO()
        value: Any = None
        with contextlib.redirect_stdout(printed):
            if isinstance(statement, ast.Expr) and not _is_print(statement):
                code = compile(ast.Expression(statement.value), where, "eval")
                value = eval(code, namespace)
            else:
                module = ast.Module(body=[statement], type_ignores=[])
                exec(compile(module, where, "exec"), namespace)
        sys.stdout.write(printed.getvalue())  # still shown, as a reader would see it
        if expected is None or not isinstance(statement, ast.Expr):
            continue
        if _is_print(statement):
            shown = printed.getvalue().rstrip("\n")
        elif value is None:
            continue
        else:
            shown = repr(value)
        line = block.line + statement.lineno - 1
        assert _matches(shown, expected), (
            f"{where}, page line {line}: the comment says {expected!r}, but it shows {shown!r}"
        )
        block.checked.append(expected)


def run_page(text: str, name: str) -> list[Block]:
    """Runs every runnable block of the page ``text``; returns them (with what was checked)."""
    page: dict[str, Any] = {"__name__": f"__docs_{name}__"}
    found = blocks(text)
    for index, block in enumerate(found):
        where = f"{name}[python block {index}]"
        if block.continues:
            run_block(block, page, where)
            continue
        alone: dict[str, Any] = {"__name__": page["__name__"]}
        run_block(block, alone, where)
        page.update(alone)  # for the blocks that say they continue the page so far
    return found
