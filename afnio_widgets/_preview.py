"""One-line previews of Variable data (shared by the graph contract and the feedback previews)."""

from __future__ import annotations

from typing import Any

__all__ = ["PREVIEW_CHARS", "preview"]

PREVIEW_CHARS = 60
"""The length of a preview."""


def preview(value: Any, limit: int = PREVIEW_CHARS) -> str:
    """A one-line summary of a Variable's data, at most ``limit`` characters.

    Args:
        value: A string, number, ``None`` or (nested) list.
        limit: The maximum length of the result.

    Returns:
        Whitespace collapsed to single spaces; lists shown as ``[n items] first item``.

    Example:
        >>> preview("Hello\\n   world")
        'Hello world'
        >>> preview(["a", "b"])
        '[2 items] a'
        >>> preview("x" * 100, limit=10)
        'xxxxxxxxx…'
    """
    if isinstance(value, list):
        head = f"[{len(value)} item{'' if len(value) == 1 else 's'}]"
        first = next((item for item in value if item is not None), None)
        text = head if first is None else f"{head} {preview(first, limit)}"
    elif value is None:
        text = "None"
    elif isinstance(value, str):
        text = " ".join(value[: limit * 4].split())
    else:
        text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"
