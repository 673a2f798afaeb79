"""The figures of the reliability suite, gathered by the tests themselves.

Each test adds what it did (faults injected, payloads tried and refused, samples compared...) to
a section; at the end of the session the sections are merged into
``test-artifacts/reliability.json`` (git-ignored), which ``docs/reliability.md`` summarises.
Only the sections of the tests that ran are replaced, so running one module keeps the others.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from collections import defaultdict
from pathlib import Path
from typing import Any

__all__ = ["FIGURES_PATH", "Figures"]

FIGURES_PATH = Path(__file__).resolve().parents[2] / "test-artifacts" / "reliability.json"


class Figures:
    """Counters and values per section, written once at the end of the session."""

    def __init__(self, path: Path = FIGURES_PATH) -> None:
        self.path = path
        self._sections: defaultdict[str, dict[str, Any]] = defaultdict(dict)
        self._lock = threading.Lock()

    def add(self, section: str, name: str, amount: int = 1) -> None:
        """Adds ``amount`` to the counter ``name`` of ``section``."""
        with self._lock:
            entry = self._sections[section]
            entry[name] = entry.get(name, 0) + amount

    def put(self, section: str, name: str, value: Any) -> None:
        """Sets ``name`` of ``section`` to ``value`` (JSON data)."""
        with self._lock:
            self._sections[section][name] = value

    def get(self, section: str, name: str, default: Any = None) -> Any:
        with self._lock:
            return self._sections.get(section, {}).get(name, default)

    def flush(self) -> None:
        """Merges the sections of this session into the JSON file (atomically)."""
        with self._lock:
            if not self._sections:
                return
            sections = {name: dict(values) for name, values in sorted(self._sections.items())}
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            merged = json.loads(self.path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            merged = {}
        if not isinstance(merged, dict):
            merged = {}
        merged.update(sections)
        fd, tmp = tempfile.mkstemp(dir=self.path.parent, prefix=".reliability-", suffix=".json")
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            json.dump(dict(sorted(merged.items())), handle, indent=2, sort_keys=True)
            handle.write("\n")
        os.replace(tmp, self.path)
