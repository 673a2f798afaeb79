"""The informative words of a textual gradient, for one-line previews.

afnio wraps feedback as it flows back: ``Add`` and ``Sum`` prefix it with "Here is the combined
feedback we got for this specific <role> and other variables: " (once per operation it passed),
and a Variable shared by a batch gets one "Feedback from sample i of n:" part per sample. A
preview of the first 60 characters would show only the wrapper; :func:`feedback_preview` shows
the feedback.
"""

from __future__ import annotations

import re
from typing import Any

from afnio.lm import split_sample_feedback
from afnio_widgets._preview import PREVIEW_CHARS, preview

__all__ = ["feedback_preview", "feedback_text"]

_COMBINED = re.compile(
    r"^\s*Here is the combined feedback we got for this specific .*? and other variables:\s*",
    re.DOTALL,
)


def feedback_text(text: str) -> str:
    """``text`` without the wrappers afnio's operations put around feedback.

    Example:
        >>> feedback_text(
        ...     "Here is the combined feedback we got for this specific draft and other "
        ...     "variables: Here is the combined feedback we got for this specific draft and "
        ...     "note and other variables: Be much shorter."
        ... )
        'Be much shorter.'
        >>> feedback_text(
        ...     "Feedback from sample 1 of 2:\\nBe brief.\\n\\n"
        ...     "Feedback from sample 2 of 2:\\nSay why."
        ... )
        '[1] Be brief. [2] Say why.'
    """
    while True:
        stripped = _COMBINED.sub("", text, count=1)
        if stripped == text:
            break
        text = stripped
    parts = split_sample_feedback(text)
    if len(parts) > 1 or (parts and parts[0][0] is not None):
        return " ".join(
            f"[{sample + 1}] {feedback_text(part)}" if sample is not None else feedback_text(part)
            for sample, part in parts
        )
    return text.strip()


def feedback_preview(data: Any, limit: int = PREVIEW_CHARS) -> str:
    """A one-line preview of a gradient's data that starts with the feedback itself.

    Example:
        >>> feedback_preview(
        ...     "Here is the combined feedback we got for this specific instruction and other "
        ...     "variables: Require a one-word answer."
        ... )
        'Require a one-word answer.'
    """
    if isinstance(data, str):
        return preview(feedback_text(data), limit)
    if isinstance(data, list):
        return preview([feedback_text(x) if isinstance(x, str) else x for x in data], limit)
    return preview(data, limit)
