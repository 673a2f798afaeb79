"""Where the widgets find their front-end bundles (built from ``js/`` into ``static/``)."""

from __future__ import annotations

import json
import pathlib

__all__ = ["STATIC", "bundle"]

STATIC = pathlib.Path(__file__).parent / "static"
"""The folder esbuild writes the bundles to (git-ignored; built by ``make js``)."""

_MISSING = """
export default {
  render({ el }) {
    const box = document.createElement("pre");
    box.className = "afnio-missing-bundle";
    box.textContent = %s;
    el.appendChild(box);
  },
};
"""


def bundle(name: str) -> pathlib.Path | str:
    """The bundle ``static/<name>``, or (for ``.js``) a stand-in module that shows how to build
    it when it is missing.

    Example:
        >>> str(bundle("widget.js")).endswith("widget.js") or "npm run build" in bundle("widget.js")
        True
    """
    path = STATIC / name
    if path.is_file():
        return path
    if name.endswith(".css"):
        return ""
    message = (
        f"afnio_widgets: the front-end bundle {name} is missing from {STATIC}.\n"
        "Build it from the repository root with `make js` (or `npm ci && npm run build`)."
    )
    return _MISSING % json.dumps(message)
