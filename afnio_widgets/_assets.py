"""The widgets' front-end: the bundles built from ``js/`` into ``static/``, and :class:`Bundle`,
the widget model that carries one bundle to the browser once for every view that runs it.

Every ``GraphView`` (``TrainingView``, ``GradModeToggle``) has the same few-hundred-byte
``_esm`` (``static/loader.js``) and a reference to a shared :class:`Bundle` model holding the real
code (``widget.js`` is ~850 KB: Graphviz compiled to WebAssembly) and the CSS. A notebook saved
with its widget state stores each model once, so the code is stored once per notebook instead of
once per view; the loader imports it once per page.
"""

from __future__ import annotations

import hashlib
import json
import pathlib
import threading

import ipywidgets
import traitlets

__all__ = ["STATIC", "Bundle", "bundle", "bundle_text", "shared_bundle"]

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


def bundle_text(name: str) -> str:
    """The text of :func:`bundle` ``(name)``: the file's contents, or the stand-in."""
    found = bundle(name)
    return found.read_text(encoding="utf-8") if isinstance(found, pathlib.Path) else found


class Bundle(ipywidgets.Widget):
    """A front-end bundle as a widget model with no view: views reference it by model id.

    Example:
        >>> b = shared_bundle("gradmode.js")
        >>> b is shared_bundle("gradmode.js"), b.name, len(b.digest)
        (True, 'gradmode.js', 16)
    """

    name = traitlets.Unicode("").tag(sync=True)
    """The bundle's file name in ``static/`` (``widget.js``, ``training.js``, ``gradmode.js``)."""

    code = traitlets.Unicode("").tag(sync=True)
    """The ES module's source; the loader imports it."""

    css = traitlets.Unicode("").tag(sync=True)
    """The widgets' style sheet; the loader adds it to the page once."""

    digest = traitlets.Unicode("").tag(sync=True)
    """A hash of ``code`` and ``css``: a page imports each different bundle once."""


_shared: dict[str, Bundle] = {}
_shared_lock = threading.Lock()


def shared_bundle(name: str) -> Bundle:
    """The kernel's one :class:`Bundle` for ``static/<name>`` (made on first use, and again if
    it was closed, e.g. by ``Widget.close_all()``)."""
    with _shared_lock:
        found = _shared.get(name)
        if found is not None and found.comm is not None:
            return found
        code = bundle_text(name)
        css = bundle_text("widget.css")
        digest = hashlib.sha256(f"{code}\0{css}".encode()).hexdigest()[:16]
        made = Bundle(name=name, code=code, css=css, digest=digest)
        _shared[name] = made
        return made
