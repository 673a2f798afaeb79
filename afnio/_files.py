"""Writing a file so that nothing half-written is ever seen under its name."""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from typing import IO, Any

__all__ = ["write_atomically"]


def write_atomically(
    path: str | os.PathLike[str],
    write: Callable[[IO[Any]], object],
    *,
    binary: bool = False,
    prefix: str | None = None,
    suffix: str = "",
) -> None:
    """Writes ``path`` through a temporary file in the same folder, flushed to disk and then
    renamed over it: a reader (or a process resuming after a crash) sees the old file or the
    new one, never a part. If ``write`` fails, the temporary file is removed and ``path`` is
    left as it was.

    Args:
        path: The file to write.
        write: Called with the open temporary file (text in UTF-8, or binary).
        binary: Open the temporary file in binary mode.
        prefix: The temporary file's name prefix (default: ``".<name>."``), so that code cleaning
            up after interrupted writes can recognise it.
        suffix: The temporary file's name suffix.

    Example:
        >>> import os, tempfile
        >>> folder = tempfile.mkdtemp()
        >>> target = os.path.join(folder, "note.txt")
        >>> write_atomically(target, lambda f: f.write("kept whole"))
        >>> open(target, encoding="utf-8").read(), os.listdir(folder)
        ('kept whole', ['note.txt'])
    """
    target = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(target))
    name = os.path.basename(target)
    fd, tmp = tempfile.mkstemp(
        prefix=f".{name}." if prefix is None else prefix, suffix=suffix, dir=folder
    )
    try:
        handle: IO[Any]
        with os.fdopen(fd, "wb") if binary else os.fdopen(fd, "w", encoding="utf-8") as handle:
            write(handle)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
