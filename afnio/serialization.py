"""Saving and loading afnio objects: :func:`save` and :func:`load`.

The file format is a zip archive holding one member, ``data.pkl``, a pickle of the object
(``.hf`` is the conventional extension). Loading is safe by default: only afnio's own types and
plain Python data are rebuilt; anything else is refused unless the caller opts in.
"""

from __future__ import annotations

import io
import os
import pickle
import zipfile
import zlib
from collections.abc import Iterable
from typing import IO, Any, Union

from afnio._files import write_atomically
from afnio._safe_pickle import SafeUnpickler, default_globals
from afnio._variable import Variable

__all__ = ["add_safe_globals", "clear_safe_globals", "get_safe_globals", "load", "save"]

FileLike = Union[str, os.PathLike, IO[bytes]]

_MEMBER = "data.pkl"


def _rebuild_variable(cls: type, state: dict[str, Any]) -> Variable:
    """Rebuilds a pickled Variable (or Parameter) from its plain state."""
    if not (isinstance(cls, type) and issubclass(cls, Variable)):
        raise pickle.UnpicklingError(f"Cannot rebuild a Variable as {cls!r}.")
    if not isinstance(state, dict):
        raise pickle.UnpicklingError("Corrupt Variable state in the archive.")
    _check_tree(state.get("data"))
    variable = cls.__new__(cls)
    Variable.__init__(
        variable,
        state.get("data", ""),
        role=state.get("role", ""),
        requires_grad=bool(state.get("requires_grad", False)),
    )
    grad = state.get("grad", [])
    if not isinstance(grad, list) or not all(isinstance(g, Variable) for g in grad):
        raise pickle.UnpicklingError("Corrupt Variable gradient list in the archive.")
    variable._grad = grad
    variable._retain_grad = bool(state.get("retain_grad", False))
    output_nr = state.get("output_nr", 0)
    variable._output_nr = output_nr if isinstance(output_nr, int) and output_nr >= 0 else 0
    return variable


def _check_tree(data: Any) -> None:
    """Refuses Variable data whose lists share references: afnio.save never writes such data,
    and a file of a few hundred bytes could otherwise expand into millions of items."""
    seen: set[int] = set()
    stack = [data]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            if id(item) in seen:
                raise pickle.UnpicklingError(
                    "Corrupt Variable data in the archive: its lists share references."
                )
            seen.add(id(item))
            stack.extend(item)


_user_safe_globals: dict[tuple[str, str], Any] = {}


def add_safe_globals(objects: Iterable[Any]) -> None:
    """Allows :func:`load` (with the default ``weights_only=True``) to rebuild these globals.

    Use it for your own module-level functions (e.g. an ``eval_fn`` registered on a module) or
    classes that you trust.

    Example:
        >>> import afnio.serialization
        >>> def exact(p, t):
        ...     return int(p == t)
        >>> afnio.serialization.add_safe_globals([exact])
        >>> afnio.serialization.clear_safe_globals()
    """
    for obj in objects:
        module = getattr(obj, "__module__", None)
        name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
        if not module or not name:
            raise TypeError(f"Cannot allow {obj!r}: it has no module-level name.")
        _user_safe_globals[(module, name)] = obj


def get_safe_globals() -> list[Any]:
    """Returns the globals added with :func:`add_safe_globals`."""
    return list(_user_safe_globals.values())


def clear_safe_globals() -> None:
    """Forgets every global added with :func:`add_safe_globals`."""
    _user_safe_globals.clear()


def save(obj: Any, f: FileLike, pickle_protocol: int = 2) -> None:
    """Saves ``obj`` (Variables, state dicts, checkpoints, ...) to ``f`` in afnio's format.

    Saving to a path is atomic: the data goes to a temporary file in the same folder, which then
    replaces ``f`` in one step, so an interrupted save never leaves a half-written file.

    Args:
        obj: The object to save.
        f: A path (``str`` or ``os.PathLike``) or a binary file object with ``write``.
        pickle_protocol: The pickle protocol.

    Raises:
        AttributeError: If ``f`` is neither a path nor a writable file object.

    Example:
        >>> import io, afnio
        >>> buffer = io.BytesIO()
        >>> afnio.save({"prompt": afnio.Variable("Be brief.", role="system prompt")}, buffer)
        >>> _ = buffer.seek(0)
        >>> afnio.load(buffer)["prompt"].data
        'Be brief.'
    """
    if isinstance(f, (str, os.PathLike)):
        write_atomically(
            f,
            lambda handle: _write_archive(obj, handle, pickle_protocol),
            binary=True,
            prefix=".afnio-",
            suffix=".tmp",
        )
        return
    if not callable(getattr(f, "write", None)):
        raise AttributeError(
            "Expected 'f' to be string, path, or a file-like object with a 'write' attribute, "
            f"but got {type(f).__name__}."
        )
    _write_archive(obj, f, pickle_protocol)
    flush = getattr(f, "flush", None)
    if callable(flush):
        flush()


def _write_archive(obj: Any, handle: IO[bytes], protocol: int) -> None:
    payload = io.BytesIO()
    pickle.dump(obj, payload, protocol=protocol)
    with zipfile.ZipFile(handle, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(_MEMBER, payload.getvalue())


def load(f: FileLike, weights_only: bool = True) -> Any:
    """Loads an object saved with :func:`save`.

    Args:
        f: A path or a binary file object with ``read`` and ``seek``.
        weights_only: When ``True`` (the default) only afnio types, plain Python data and the
            globals allowed with :func:`add_safe_globals` are rebuilt, and only afnio's own
            constructors may be called; loading anything else raises. ``False`` uses the full
            pickle machinery, which can run arbitrary code: only do this for files you trust.

    An archive whose ``data.pkl`` is larger than 32 MiB and compressed more than 100 times is
    refused before it is inflated (``afnio.save`` never writes one).

    Raises:
        FileNotFoundError: If the path does not exist.
        RuntimeError: If ``f`` is not an afnio archive, or ``data.pkl`` is missing or corrupt.
        pickle.UnpicklingError: If the file holds an object that is not allowed.
    """
    if isinstance(f, (str, os.PathLike)):
        with open(os.fspath(f), "rb") as handle:
            return _read_archive(handle, os.fspath(f), weights_only)
    if not callable(getattr(f, "read", None)):
        raise AttributeError(
            "Expected 'f' to be string, path, or a file-like object with a 'read' attribute, "
            f"but got {type(f).__name__}."
        )
    return _read_archive(f, repr(f), weights_only)


# A data.pkl larger than this, and inflating more than _MAX_RATIO times, is refused unread.
_LARGE = 32 * 2**20
_MAX_RATIO = 100


def _read_archive(handle: IO[bytes], name: str, weights_only: bool) -> Any:
    try:
        with zipfile.ZipFile(handle) as archive:
            try:
                info = archive.getinfo(_MEMBER)
            except KeyError:
                raise RuntimeError(
                    "Missing 'data.pkl' in archive. File might be corrupted."
                ) from None
            if info.file_size > _LARGE and info.file_size > _MAX_RATIO * max(info.compress_size, 1):
                raise RuntimeError(
                    f"{name} declares a '{_MEMBER}' of {info.file_size} bytes compressed "
                    f"{info.file_size // max(info.compress_size, 1)} times: afnio.load refuses "
                    "to inflate it (an archive this compressible is not something afnio.save "
                    "writes)."
                )
            with archive.open(info) as member:
                payload = member.read(info.file_size + 1)
            if len(payload) != info.file_size:
                raise RuntimeError(f"'{_MEMBER}' in {name} is not the size its header declares.")
    except zipfile.BadZipFile as exc:
        raise RuntimeError(
            f"{name} is not an afnio file, or is corrupted: expected a zip archive holding "
            f"'{_MEMBER}' (written by afnio.save). ({exc})"
        ) from None
    except (OSError, EOFError, ValueError, NotImplementedError, zlib.error) as exc:
        raise RuntimeError(f"Cannot read '{_MEMBER}' from {name}: {exc}") from exc
    buffer = io.BytesIO(payload)
    try:
        if weights_only:
            globals_, callables, trusted = default_globals(dict(_user_safe_globals))
            return SafeUnpickler(buffer, globals_, callables, trusted).load()
        return pickle.load(buffer)
    except pickle.UnpicklingError:
        raise
    except (EOFError, ValueError, TypeError, AttributeError, IndexError, KeyError) as exc:
        raise RuntimeError(f"The data in {name} is corrupt: {exc}") from exc
