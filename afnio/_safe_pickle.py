"""The restricted unpickler behind ``afnio.load(..., weights_only=True)``.

Three things in a pickle can run code: looking up a global, *calling* it (``REDUCE``, ``INST``,
``OBJ``) and building an object around the constructor (``NEWOBJ``, ``BUILD``). This unpickler,
built on the pure-Python one so that every opcode goes through us, allows

* globals from an allowlist (afnio's types, a few containers and pure builtins, and what the
  caller added with ``add_safe_globals``), looked up by name every time (never from
  ``copyreg``'s extension cache);
* calls only to the constructors afnio's own files need, with their arguments checked, so that a
  tiny file cannot make ``load`` compute or allocate without bound (``bytearray(2**30)``);
* ``NEWOBJ``/``BUILD`` only on ``OrderedDict`` (a state dict's ``_metadata``) and on classes the
  caller allowed; a Variable is only ever rebuilt through its validating constructor.
"""

from __future__ import annotations

import _codecs
import _compat_pickle
import builtins
import collections
import pickle
from collections.abc import Callable
from typing import IO, Any

__all__ = ["SafeUnpickler"]

_REFUSED_HINT = (
    "by default only afnio types and plain Python data are loaded, so that opening a file cannot "
    "run code. If you trust this file, call `afnio.load(f, weights_only=False)`; to allow just "
    "this object, use `afnio.serialization.add_safe_globals([...])`."
)


def _materialised(value: Any) -> bool:
    return isinstance(value, (list, tuple, set, frozenset, dict, str, bytes))


def _args_ok(func: Any, args: tuple[Any, ...]) -> bool:
    """Whether calling an allowed constructor with ``args`` is cheap and safe."""
    if func in (set, frozenset, collections.OrderedDict):
        return len(args) == 0 or (len(args) == 1 and _materialised(args[0]))
    if func is bytearray:
        return len(args) == 0 or (len(args) <= 2 and isinstance(args[0], (bytes, str)))
    if func is _codecs.encode:
        return len(args) == 2 and isinstance(args[0], str) and args[1] == "latin1"
    if func in (complex, slice, range):
        return all(a is None or isinstance(a, (int, float)) for a in args)
    return True  # afnio's own rebuild functions check their arguments


def _name(obj: Any) -> str:
    return f"{getattr(obj, '__module__', '?')}.{getattr(obj, '__qualname__', repr(obj))}"


# The pure-Python unpickler, so that every opcode goes through the methods below.
_PyUnpickler: Any = pickle._Unpickler


class SafeUnpickler(_PyUnpickler):
    """Unpickles only what the allowlists above permit; raises ``UnpicklingError`` otherwise.

    Args:
        file: The pickle stream.
        globals_: ``(module, name) -> object`` of every global that may be looked up.
        callables: The globals that may be called, with checked arguments.
        trusted: Classes (added by the caller) that may also be built with ``NEWOBJ``/``BUILD``.
    """

    dispatch = dict(_PyUnpickler.dispatch)

    def __init__(
        self,
        file: IO[bytes],
        globals_: dict[tuple[str, str], Any],
        callables: set[Any],
        trusted: set[type],
    ) -> None:
        super().__init__(file)
        self._globals = globals_
        self._callables = callables
        self._trusted = trusted

    # -- globals ---------------------------------------------------------------------------------
    def find_class(self, module: str, name: str) -> Any:
        # Protocols 0-2 write Python 2 names (``__builtin__.set``); map them as pickle does.
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        elif module in _compat_pickle.IMPORT_MAPPING:
            module = _compat_pickle.IMPORT_MAPPING[module]
        try:
            return self._globals[(module, name)]
        except KeyError:
            raise pickle.UnpicklingError(
                f"afnio.load refused to load the global '{module}.{name}': {_REFUSED_HINT}"
            ) from None

    def get_extension(self, code: int) -> None:
        import copyreg

        key = copyreg._inverted_registry.get(code)  # type: ignore[attr-defined]
        if not key:
            raise pickle.UnpicklingError(
                f"afnio.load refused an unregistered pickle extension code ({code})."
            )
        # Never from copyreg's cache: every extension goes through the allowlist.
        self.append(self.find_class(*key))

    # -- calls -----------------------------------------------------------------------------------
    def _call(self, func: Any, args: tuple[Any, ...]) -> Any:
        if isinstance(func, type) and func in self._trusted:
            return func(*args)
        if func not in self._callables:
            raise pickle.UnpicklingError(
                f"afnio.load refused to call '{_name(func)}': {_REFUSED_HINT}"
            )
        if not _args_ok(func, args):
            raise pickle.UnpicklingError(
                f"afnio.load refused to call '{_name(func)}' with these arguments: a file may "
                "only rebuild data it contains, not compute new data."
            )
        try:
            return func(*args)
        except pickle.UnpicklingError:
            raise
        except Exception as exc:
            raise pickle.UnpicklingError(
                f"Corrupt data for '{_name(func)}' in the archive: {exc}"
            ) from exc

    def load_reduce(self) -> None:
        args = self.stack.pop()
        func = self.stack[-1]
        if not isinstance(args, tuple):
            raise pickle.UnpicklingError("Corrupt pickle: REDUCE arguments are not a tuple.")
        self.stack[-1] = self._call(func, args)

    dispatch[pickle.REDUCE[0]] = load_reduce

    def _instantiate(self, klass: Any, args: list[Any]) -> None:
        self.append(self._call(klass, tuple(args)))

    def _check_build_target(self, cls: Any, opcode: str) -> None:
        if not (isinstance(cls, type) and (cls in self._trusted or cls is collections.OrderedDict)):
            raise pickle.UnpicklingError(
                f"afnio.load refused to build an object of '{_name(cls)}' with {opcode}: "
                f"{_REFUSED_HINT}"
            )

    def load_newobj(self) -> None:
        args = self.stack.pop()
        cls = self.stack.pop()
        self._check_build_target(cls, "NEWOBJ")
        self.append(cls.__new__(cls, *args))

    dispatch[pickle.NEWOBJ[0]] = load_newobj

    def load_newobj_ex(self) -> None:
        kwargs = self.stack.pop()
        args = self.stack.pop()
        cls = self.stack.pop()
        self._check_build_target(cls, "NEWOBJ_EX")
        self.append(cls.__new__(cls, *args, **kwargs))

    dispatch[pickle.NEWOBJ_EX[0]] = load_newobj_ex

    def load_build(self) -> None:
        state = self.stack[-1]
        inst = self.stack[-2]
        cls = type(inst)
        self._check_build_target(cls, "BUILD")
        if cls is collections.OrderedDict and not (
            isinstance(state, dict) and all(isinstance(k, str) for k in state)
        ):
            raise pickle.UnpicklingError("Corrupt pickle: bad attributes for an OrderedDict.")
        super().load_build()

    dispatch[pickle.BUILD[0]] = load_build


def default_globals(extra: dict[tuple[str, str], Any]) -> tuple[dict, set, set]:
    """The allowlists: globals, callables and trusted classes (``extra`` comes from the user)."""
    from afnio._variable import JAGGED, Variable
    from afnio.serialization import _rebuild_variable

    globals_: dict[tuple[str, str], Any] = {
        ("afnio.serialization", "_rebuild_variable"): _rebuild_variable,
        ("afnio._variable", "Variable"): Variable,
        ("afnio._variable", "JAGGED"): JAGGED,
        ("afnio._data", "JAGGED"): JAGGED,
        ("collections", "OrderedDict"): collections.OrderedDict,
        ("_codecs", "encode"): _codecs.encode,  # bytes under protocol 2
    }
    constructors = ("set", "frozenset", "bytearray", "complex", "slice", "range")
    for name in constructors:
        globals_[("builtins", name)] = getattr(builtins, name)
    # Pure builtins that modules register as functions (reduction_fn=sum): loadable, not callable.
    for name in ("sum", "len", "min", "max", "any", "all", "sorted", "abs", "round"):
        globals_[("builtins", name)] = getattr(builtins, name)
    try:
        from afnio.cognitive.parameter import Parameter

        globals_[("afnio.cognitive.parameter", "Parameter")] = Parameter
    except ImportError:  # pragma: no cover - cognitive not importable
        pass
    callables: set[Callable[..., Any]] = {
        _rebuild_variable,
        collections.OrderedDict,
        _codecs.encode,
        *(getattr(builtins, name) for name in constructors),
    }
    # Classes the caller allowed may be built; functions they allowed are loaded, never called.
    trusted = {obj for obj in extra.values() if isinstance(obj, type)}
    return {**globals_, **extra}, callables, trusted
