"""The usage counters of a client: OpenAI's, plus afnio's cost."""

from __future__ import annotations

from typing import Any

from afnio.models.model import INITIAL_COST, usage_as_dict

__all__ = ["INITIAL_USAGE", "normalize_usage"]

INITIAL_USAGE: dict[str, Any] = {
    "completion_tokens": 0,
    "prompt_tokens": 0,
    "total_tokens": 0,
    "prompt_tokens_details": {"cached_tokens": 0, "audio_tokens": 0},
    "completion_tokens_details": {
        "reasoning_tokens": 0,
        "audio_tokens": 0,
        "accepted_prediction_tokens": 0,
        "rejected_prediction_tokens": 0,
    },
    **INITIAL_COST,
}
"""The usage of a client that has made no call yet."""


def normalize_usage(raw: Any) -> dict[str, Any]:
    """An OpenAI-style usage payload with exactly the counters of :data:`INITIAL_USAGE`.

    Missing or ``None`` counters become 0 (some compatible servers omit the details).
    """
    data = usage_as_dict(raw)

    def count(value: Any) -> int:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return int(value) if ok else 0

    out: dict[str, Any] = {}
    for key, template in INITIAL_USAGE.items():
        if key == "cost":
            continue
        if isinstance(template, dict):
            sub = data.get(key) or {}
            sub = sub if isinstance(sub, dict) else usage_as_dict(sub)
            out[key] = {name: count(sub.get(name)) for name in template}
        else:
            out[key] = count(data.get(key))
    return out
