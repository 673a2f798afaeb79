"""What a run records besides its figures (machine, versions, date) and how tables are printed."""

from __future__ import annotations

import datetime
import os
import platform
import subprocess
from collections.abc import Sequence
from importlib import metadata
from typing import Any

__all__ = ["format_table", "machine", "median", "unavailable", "versions"]


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _ram_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024**2, 1)
    except OSError:
        pass
    return None


def _os_name() -> str:
    try:
        with open("/etc/os-release", encoding="utf-8") as f:
            for line in f:
                if line.startswith("PRETTY_NAME="):
                    return f"{line.split('=', 1)[1].strip().strip(chr(34))}, {platform.release()}"
    except OSError:
        pass
    return platform.platform()


def unavailable(title: str, workload: str, note: str, *tables: str) -> dict[str, Any]:
    """The result of a benchmark that cannot run here: ``note`` says why; its ``rows`` and the
    other lists of rows named by ``tables`` are empty."""
    return {
        "title": title,
        "workload": workload,
        "status": "unavailable",
        **{name: [] for name in ("rows", *tables)},
        "notes": [note],
    }


def machine() -> dict[str, Any]:
    """CPU model, logical cores, RAM (GiB) and operating system of this machine."""
    return {
        "cpu": _cpu_model(),
        "cores": os.cpu_count(),
        "ram_gib": _ram_gib(),
        "os": _os_name(),
    }


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _chromium_version() -> str | None:
    try:
        out = subprocess.run(
            ["/usr/bin/chromium", "--version"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def versions(textgrad: str | None = None) -> dict[str, Any]:
    """Versions of everything the figures depend on (``textgrad`` comes from its own venv)."""
    return {
        "python": platform.python_version(),
        "afnio": _version("afnio"),
        "openai": _version("openai"),
        "torch": _version("torch"),
        "textgrad": textgrad,
        "jupyterlab": _version("jupyterlab"),
        "playwright": _version("playwright"),
        "chromium": _chromium_version(),
    }


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds")


def median(values: Sequence[float]) -> float:
    ordered = sorted(values)
    n = len(ordered)
    mid = n // 2
    return ordered[mid] if n % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        if value == 0:
            return "0"
        if abs(value) >= 100:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}" if abs(value) >= 0.1 else f"{value:.3g}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


def format_table(columns: Sequence[tuple[str, str]], rows: Sequence[dict[str, Any]]) -> str:
    """A Markdown table of ``rows`` (dicts), one column per ``(key, header)``."""
    cells = [[_cell(row.get(key)) for key, _ in columns] for row in rows]
    headers = [header for _, header in columns]
    widths = [max([len(h)] + [len(r[i]) for r in cells]) for i, h in enumerate(headers)]

    def line(items: Sequence[str]) -> str:
        return "| " + " | ".join(item.ljust(w) for item, w in zip(items, widths)) + " |"

    out = [line(headers), "|" + "|".join("-" * (w + 2) for w in widths) + "|"]
    out.extend(line(r) for r in cells)
    return "\n".join(out)
