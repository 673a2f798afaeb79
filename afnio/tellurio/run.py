"""Local runs: :func:`init` starts one, :func:`log` records metrics into it.

afnio 0.3.7 sent runs and metrics to a hosted service; here a run is a folder on disk (see
:mod:`afnio.tellurio.storage` for the format and :func:`afnio.tellurio.read_run` to read one).
"""

from __future__ import annotations

import atexit
import enum
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from types import TracebackType
from typing import Any

from afnio.autodiff.graph import RemovableHandle
from afnio.tellurio.storage import (
    METRICS_FILE,
    RUN_FILE,
    RUN_FORMAT,
    Metric,
    append_metric,
    runs_root,
    slugify,
    write_json_atomically,
)

__all__ = ["Run", "RunStatus", "get_active_run", "init", "log", "register_log_observer"]

logger = logging.getLogger(__name__)

DEFAULT_NAMESPACE = "local"
DEFAULT_PROJECT = "afnio"


class RunStatus(str, enum.Enum):
    """The status of a run, as afnio 0.3.7 named them."""

    RUNNING = "RUNNING"
    CRASHED = "CRASHED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


_lock = threading.Lock()
_active: Run | None = None
_observers: dict[int, Callable[[Run, Metric], None]] = {}
_atexit_registered = False


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _check_text(value: Any, argname: str, required: bool = True) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str) or not value.strip():
        raise TypeError(f"`{argname}` must be a non-empty str, but got {value!r}.")
    return value


def _folder_name(name: str) -> str:
    bad = {"/", "\\", "\0"} & set(name)
    if bad or name.strip() in (".", "..") or name.startswith("."):
        raise ValueError(
            f"`name` {name!r} cannot name a run folder: use no path separators, no NUL and no "
            "leading dot."
        )
    return name.strip()


class Run:
    """A local run: a folder with ``run.json`` (its metadata) and ``metrics.jsonl``.

    Create one with :func:`init`. A Run is a context manager: leaving the block finishes it,
    ``COMPLETED``, or ``CRASHED`` if an exception escapes.

    Attributes:
        uuid: A unique id (str).
        name: The run's name (its folder's name).
        description: Free text, or ``None``.
        status: A :class:`RunStatus`.
        namespace_slug, project_display_name, project_slug: Where the run belongs.
        date_created, date_updated: ISO 8601 times (UTC).
        path: The run's folder.
    """

    def __init__(
        self,
        path: Path,
        name: str,
        namespace_slug: str,
        project_display_name: str,
        description: str | None,
        status: RunStatus,
    ) -> None:
        self.uuid = str(uuid.uuid4())
        self.name = name
        self.description = description
        self.status = RunStatus(status)
        self.namespace_slug = namespace_slug
        self.project_display_name = project_display_name
        self.project_slug = path.parent.name
        self.path = path
        self.date_created = self.date_updated = _now()
        self._lock = threading.Lock()
        self._steps: dict[str, int] = {}
        self._write_metadata()

    def _metadata(self) -> dict[str, Any]:
        from afnio import __version__

        return {
            "format": RUN_FORMAT,
            "uuid": self.uuid,
            "name": self.name,
            "description": self.description,
            "status": self.status.value,
            "namespace_slug": self.namespace_slug,
            "project_display_name": self.project_display_name,
            "project_slug": self.project_slug,
            "date_created": self.date_created,
            "date_updated": self.date_updated,
            "afnio_version": __version__,
        }

    def _write_metadata(self) -> None:
        write_json_atomically(self.path / RUN_FILE, self._metadata())

    def log(self, name: str, value: Any, step: int | None = None, client: Any = None) -> None:
        """Appends one value of metric ``name`` to ``metrics.jsonl``.

        Args:
            name: The metric's name, e.g. ``"train_accuracy"``.
            value: A number or a bool (or a Variable holding one).
            step: The step it belongs to; by default one more than the last step logged for
                this name (0 for the first).
            client: Accepted for afnio 0.3.7's signature; unused.

        Raises:
            TypeError: If ``name`` is not a non-empty str, ``value`` not a number or ``step``
                not an int.
            ValueError: If ``value`` is not finite.
            RuntimeError: If the run is finished.
        """
        from afnio._variable import Variable

        _check_text(name, "name")
        if isinstance(value, Variable):
            value = value.data
        if not isinstance(value, (int, float)):
            raise TypeError(
                f"The value of metric {name!r} must be a number or a bool, but got "
                f"{type(value).__name__}: {value!r:.80}."
            )
        if step is not None and (not isinstance(step, int) or isinstance(step, bool)):
            raise TypeError(f"`step` must be an int or None, but got {step!r}.")
        with self._lock:
            if self.status is not RunStatus.RUNNING:
                raise RuntimeError(
                    f"Run {self.name!r} is {self.status.value}; start a new one with "
                    "afnio.tellurio.init() to log more."
                )
            if step is None:
                step = self._steps.get(name, -1) + 1
            metric = Metric(name, value, step, time.time())
            append_metric(self.path / METRICS_FILE, metric)
            self._steps[name] = max(step, self._steps.get(name, -1))
        for observer in list(_observers.values()):
            try:
                observer(self, metric)
            except Exception:
                logger.exception("A log observer failed on metric %r.", name)

    def finish(self, client: Any = None, status: RunStatus = RunStatus.COMPLETED) -> None:
        """Marks the run finished with ``status`` (default ``COMPLETED``) in ``run.json``; no
        more values can be logged to it. Finishing a finished run does nothing.

        Args:
            client: Accepted for afnio 0.3.7's signature; unused.
            status: The final status.
        """
        global _active
        status = RunStatus(status)
        with self._lock:
            if self.status is not RunStatus.RUNNING:
                return
            self.status = status
            self.date_updated = _now()
            self._write_metadata()
        with _lock:
            if _active is self:
                _active = None

    def __enter__(self) -> Run:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.finish(status=RunStatus.COMPLETED if exc_type is None else RunStatus.CRASHED)

    def __repr__(self) -> str:
        return f"<Run {self.name!r} {self.status.value} at {str(self.path)!r}>"


def _finish_at_exit() -> None:
    run = _active
    if run is not None:
        run.finish()


def init(
    namespace_slug: str,
    project_display_name: str,
    name: str | None = None,
    description: str | None = None,
    status: RunStatus = RunStatus.RUNNING,
    client: Any = None,
    *,
    root: str | os.PathLike[str] | None = None,
) -> Run:
    """Starts a local run and makes it the active one (what :func:`log` writes to).

    The run is the folder ``<root>/<namespace_slug>/<project slug>/<name>/``: ``root`` is
    ``runs/`` in the current directory unless ``AFNIO_RUNS_DIR`` or ``root`` say otherwise, the
    project slug is ``project_display_name`` lowercased with ``-`` between words. An unfinished
    previous active run is marked ``FAILED`` (as in afnio 0.3.7); the active run still running
    when Python exits is marked ``COMPLETED``.

    Args:
        namespace_slug: The account or organisation the run belongs to (any slug: nothing is
            checked against a server).
        project_display_name: The project's name.
        name: The run's name; by default ``run-<UTC date and time>``. A name already used in
            the project gets a suffix ``-2``, ``-3``...
        description: Free text saved in ``run.json``.
        status: The initial status.
        client: Accepted for afnio 0.3.7's signature; unused.
        root: The folder holding the runs.

    Returns:
        The :class:`Run`.

    Raises:
        TypeError: If a name is not a non-empty str.
        ValueError: If a name cannot be a folder name.

    Example:
        >>> import tempfile
        >>> from afnio import tellurio
        >>> with tempfile.TemporaryDirectory() as root:
        ...     run = tellurio.init("me", "Sentiment Classifier", name="baseline", root=root)
        ...     tellurio.log("accuracy", 0.8)
        ...     run.finish()
        ...     print(run.path.relative_to(root).as_posix(), run.status.value)
        me/sentiment-classifier/baseline COMPLETED
    """
    global _active, _atexit_registered
    _check_text(namespace_slug, "namespace_slug")
    _check_text(project_display_name, "project_display_name")
    _check_text(description, "description", required=False)
    if name is not None:
        _check_text(name, "name")
    namespace = slugify(namespace_slug)
    project = slugify(project_display_name)
    if not namespace or not project:
        raise ValueError(
            "`namespace_slug` and `project_display_name` need at least one letter or digit, "
            f"but got {namespace_slug!r} and {project_display_name!r}."
        )
    base = (
        _folder_name(name)
        if name is not None
        else datetime.now(timezone.utc).strftime("run-%Y%m%d-%H%M%S")
    )
    parent = runs_root(root).absolute() / namespace / project
    parent.mkdir(parents=True, exist_ok=True)
    folder_name = base
    for k in range(2, 10_000):
        try:
            (parent / folder_name).mkdir()
            break
        except FileExistsError:
            folder_name = f"{base}-{k}"
    else:  # pragma: no cover - ten thousand runs of one name
        raise RuntimeError(f"Too many runs named {base!r} in {parent}.")
    run = Run(
        parent / folder_name,
        folder_name,
        namespace_slug,
        project_display_name,
        description,
        status,
    )
    with _lock:
        previous, _active = _active, run
        if not _atexit_registered:
            atexit.register(_finish_at_exit)
            _atexit_registered = True
    if previous is not None:
        previous.finish(status=RunStatus.FAILED)
    logger.info("Run %r started in %s.", run.name, run.path)
    return run


def get_active_run() -> Run | None:
    """The run :func:`log` writes to, or ``None``."""
    return _active


def log(name: str, value: Any, step: int | None = None, client: Any = None) -> None:
    """Logs one value of metric ``name`` to the active run (see :meth:`Run.log`).

    Without an active run one is started, ``init("local", "afnio")`` (afnio 0.3.7 raised
    ``ValueError`` instead), so logging never fails for want of a run.
    """
    run = _active
    if run is None:
        run = init(DEFAULT_NAMESPACE, DEFAULT_PROJECT)
        logger.info("No active run: logging to a new run %r in %s.", run.name, run.path)
    run.log(name, value, step=step, client=client)


def register_log_observer(observer: Callable[[Run, Metric], None]) -> RemovableHandle:
    """Registers ``observer(run, metric)``, called after every value logged to any run (how a
    viewer follows a run live). An exception in an observer is logged and ignored.

    Returns:
        A handle whose ``remove()`` unregisters the observer.
    """
    if not callable(observer):
        raise TypeError(f"`observer` must be callable, but got {type(observer).__name__}.")
    return RemovableHandle(_observers, observer)
