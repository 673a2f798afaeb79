"""Local stand-ins for afnio 0.3.7's ``afnio.tellurio``: runs, metric logging and login.

afnio 0.3.7 sent every operation, run and metric to a hosted service. Here nothing leaves the
machine: :func:`login` needs no account, :func:`init` starts a run in a local folder,
:func:`log` appends metrics to it as JSON lines, and :func:`read_run` reads a run back (for a
``TrainingView`` or your own analysis). The folder format is described in ``docs/training.md``
("Runs").

Example:
    >>> import tempfile
    >>> from afnio.tellurio import init, log
    >>> with tempfile.TemporaryDirectory() as root:
    ...     with init("me", "Demo", name="try", root=root) as run:
    ...         log("loss", 0.25)
    ...     print(run.status.value, (run.path / "metrics.jsonl").is_file())
    COMPLETED True
"""

from afnio.autodiff.graph import suppress_graph_events as suppress_variable_notifications
from afnio.logging_config import configure_logging
from afnio.tellurio.account import login
from afnio.tellurio.run import (
    Run,
    RunStatus,
    get_active_run,
    init,
    log,
    register_log_observer,
)
from afnio.tellurio.storage import Metric, RunData, read_metrics, read_run

__all__ = [
    "Metric",
    "Run",
    "RunData",
    "RunStatus",
    "configure_logging",
    "get_active_run",
    "init",
    "log",
    "login",
    "read_metrics",
    "read_run",
    "register_log_observer",
    "suppress_variable_notifications",
]
