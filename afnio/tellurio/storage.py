"""The on-disk format of a run, and how it is written and read.

A run is a folder ``<root>/<namespace_slug>/<project_slug>/<run name>/`` holding:

* ``run.json``: the run's metadata (one JSON object, see :data:`RUN_FORMAT`), replaced
  atomically (a temporary file, then a rename) whenever it changes;
* ``metrics.jsonl``: one JSON object per line, ``{"name", "value", "step", "time"}``, each line
  appended by a single write of the whole line; a reader ignores a last line without its newline
  (a write that a crash cut short), so nothing half-written is ever read.

``<root>`` is ``runs/`` in the current directory, unless ``AFNIO_RUNS_DIR`` or the ``root``
argument of :func:`afnio.tellurio.init` says otherwise.
"""

from __future__ import annotations

import json
import math
import os
import re
from pathlib import Path
from typing import IO, Any, NamedTuple

from afnio._files import write_atomically

__all__ = [
    "METRICS_FILE",
    "RUN_FILE",
    "RUN_FORMAT",
    "Metric",
    "RunData",
    "append_metric",
    "read_metrics",
    "read_run",
    "runs_root",
    "slugify",
    "write_json_atomically",
]

RUN_FILE = "run.json"
METRICS_FILE = "metrics.jsonl"
RUN_FORMAT = "afnio-run/1"
"""The value of ``"format"`` in ``run.json``. Its other keys: ``uuid``, ``name``,
``description``, ``status`` (``RUNNING``, ``COMPLETED``, ``CRASHED`` or ``FAILED``),
``namespace_slug``, ``project_display_name``, ``project_slug``, ``date_created``,
``date_updated`` (ISO 8601, UTC) and ``afnio_version``."""


class Metric(NamedTuple):
    """One line of ``metrics.jsonl``: a value of metric ``name`` at ``step``, logged at ``time``
    (seconds since the epoch)."""

    name: str
    value: float | int | bool
    step: int
    time: float


class RunData(NamedTuple):
    """A run read from its folder: ``metadata`` (``run.json``) and its ``metrics`` in log
    order."""

    path: Path
    metadata: dict[str, Any]
    metrics: list[Metric]


def runs_root(root: str | os.PathLike[str] | None = None) -> Path:
    """The folder that holds the runs: ``root``, else ``$AFNIO_RUNS_DIR``, else ``./runs``."""
    if root is not None:
        return Path(root)
    return Path(os.environ.get("AFNIO_RUNS_DIR") or "runs")


def slugify(text: str) -> str:
    """``"My Project 2!"`` -> ``"my-project-2"``: lowercase letters, digits, ``-`` and ``_``.

    Example:
        >>> slugify("  Sentiment  Classifier (v2) ")
        'sentiment-classifier-v2'
    """
    return re.sub(r"[^a-z0-9_]+", "-", text.lower()).strip("-")


def write_json_atomically(path: Path, obj: dict[str, Any]) -> None:
    """Writes ``obj`` to ``path`` through a temporary file and a rename: a reader sees the old
    file or the new one, never a part."""

    def dump(f: IO[Any]) -> None:
        json.dump(obj, f, indent=2, sort_keys=True)
        f.write("\n")

    write_atomically(path, dump)


def append_metric(path: Path, metric: Metric) -> None:
    """Appends ``metric`` to ``path`` as one whole line, with one write.

    Raises:
        ValueError: If the value is not a finite number (JSON has no NaN or infinity).
    """
    if isinstance(metric.value, float) and not math.isfinite(metric.value):
        raise ValueError(
            f"Cannot log {metric.value!r} for metric {metric.name!r}: values must be finite."
        )
    line = json.dumps(metric._asdict(), allow_nan=False) + "\n"
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        data = line.encode("utf-8")
        written = os.write(fd, data)
        while written < len(data):  # a regular file takes it in one go; be exact anyway
            written += os.write(fd, data[written:])
    finally:
        os.close(fd)


def read_metrics(path: str | os.PathLike[str], offset: int = 0) -> tuple[list[Metric], int]:
    """Reads the complete lines of a ``metrics.jsonl`` from byte ``offset``.

    Returns the metrics and the offset to read from next time, so a viewer can follow a run
    while it is being logged (a last line still being written is left for the next read).
    A missing file reads as no metrics.

    Raises:
        ValueError: If a complete line is not a metric object, naming the file and the line.
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            f.seek(offset)
            data = f.read()
    except FileNotFoundError:
        return [], offset
    end = data.rfind(b"\n") + 1
    metrics = []
    for number, raw in enumerate(data[:end].splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw)
            metrics.append(Metric(obj["name"], obj["value"], obj["step"], obj["time"]))
        except (ValueError, KeyError, TypeError) as exc:
            raise ValueError(
                f"{path}: line {number} after byte {offset} is not a metric "
                f'{{"name", "value", "step", "time"}}: {raw[:80]!r} ({exc}).'
            ) from None
    return metrics, offset + end


def read_run(path: str | os.PathLike[str]) -> RunData:
    """Reads a run folder: its ``run.json`` and every complete line of ``metrics.jsonl``.

    Raises:
        FileNotFoundError: If the folder has no ``run.json``.
        ValueError: If ``run.json`` is not an afnio run, or a metric line is malformed.

    Example:
        >>> import tempfile
        >>> from afnio import tellurio
        >>> with tempfile.TemporaryDirectory() as root:
        ...     with tellurio.init("me", "Demo", name="first", root=root) as run:
        ...         run.log("accuracy", 0.5)
        ...         run.log("accuracy", 0.75)
        ...     data = tellurio.read_run(run.path)
        >>> data.metadata["status"], [(m.step, m.value) for m in data.metrics]
        ('COMPLETED', [(0, 0.5), (1, 0.75)])
    """
    path = Path(path)
    run_file = path / RUN_FILE
    if not run_file.is_file():
        raise FileNotFoundError(f"{path} is not a run folder: it has no {RUN_FILE}.")
    metadata = json.loads(run_file.read_text(encoding="utf-8"))
    if not isinstance(metadata, dict) or metadata.get("format") != RUN_FORMAT:
        raise ValueError(f"{run_file} is not an afnio run (expected format {RUN_FORMAT!r}).")
    metrics, _ = read_metrics(path / METRICS_FILE)
    return RunData(path, metadata, metrics)
