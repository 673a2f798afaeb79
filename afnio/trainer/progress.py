"""Progress bars of the Trainer (``tqdm.auto``: a widget in Jupyter, text in a terminal)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from tqdm.auto import tqdm

__all__ = ["ProgressBar", "format_metrics"]


def format_metrics(cost: float, metrics: Mapping[str, Mapping[str, float]]) -> str:
    """The text shown after a bar: total cost, then ``{prefix}_{name}: value`` per metric.

    Example:
        >>> format_metrics(0.0123, {"train": {"loss": 0.5, "accuracy": 0.75}, "val": {}})
        'tot_cost: $0.0123 - train_loss: 0.5000 - train_accuracy: 0.7500'
    """
    parts = [f"tot_cost: ${cost:.4f}"]
    for prefix, values in metrics.items():
        parts.extend(f"{prefix}_{name}: {value:.4f}" for name, value in values.items())
    return " - ".join(parts)


class ProgressBar:
    """One bar over the batches of a pass; a no-op when disabled.

    Args:
        total: Number of batches, if known.
        desc: Label, e.g. ``"Epoch 1/3 [train]"``.
        enabled: Whether to display anything.
        initial: Batches already done (when resuming).
    """

    def __init__(self, total: int | None, desc: str, enabled: bool, initial: int = 0) -> None:
        self._bar: Any = None
        if enabled:
            self._bar = tqdm(
                total=total,
                desc=desc,
                initial=initial,
                unit="batch",
                leave=True,
                dynamic_ncols=True,
            )

    def advance(self, postfix: str) -> None:
        """Marks one batch done and shows ``postfix``."""
        if self._bar is not None:
            self._bar.set_postfix_str(postfix, refresh=False)
            self._bar.update(1)

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()
