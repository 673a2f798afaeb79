"""Measurements of a drawn GraphView in the browser, shared by the browser tests: overlaps,
text/fill contrast, label sizes. Each constant is a JavaScript function of the view element."""

from __future__ import annotations

from pathlib import Path
from typing import Any

_SOURCE = (Path(__file__).with_name("drawing_checks.js")).read_text(encoding="utf-8")


def _check(name: str) -> str:
    return f"(view) => ({_SOURCE}).{name}(view)"


OVERLAPS = _check("overlaps")
"""Badges over nodes or other badges, node labels over other nodes: ``{clashes, badges, nodes}``."""

CONTRAST = _check("contrast")
"""Each node's lowest text/fill contrast ratio (alpha blended over the canvas)."""

LABEL_PX = _check("labelPx")
"""The smallest label font size on screen, in CSS pixels."""


def set_theme(page: Any, theme: str) -> None:
    """Switches JupyterLab to ``"JupyterLab Light"`` or ``"JupyterLab Dark"`` and waits."""
    light = "true" if theme == "JupyterLab Light" else "false"
    page.evaluate(
        "(t) => window.jupyterapp.commands.execute('apputils:change-theme', {theme: t})", theme
    )
    page.wait_for_function(f"() => document.body.dataset.jpThemeLight === '{light}'")
    page.wait_for_timeout(300)  # the theme's CSS variables apply on the next frames


def low_contrast(view: Any) -> list[dict[str, Any]]:
    """The nodes of ``view`` whose text/fill contrast is below WCAG AA (4.5:1)."""
    return [n for n in view.evaluate(CONTRAST) if n["ratio"] < 4.5]
