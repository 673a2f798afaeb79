"""A small pickle assembler, to forge the hostile files of ``test_hostile_files.py`` byte by byte.

An expression tree (globals, strings, calls, ``BUILD``...) is written with the opcodes of one
pickle protocol: protocol 0 uses the text opcodes, 1 the binary ones, 2 and 3 add the protocol
header (3 writes bytes with ``BINBYTES``), 4 and 5 use ``STACK_GLOBAL`` and a ``FRAME``. Any
opcode can also be forced into any protocol, as an attacker would.
"""

from __future__ import annotations

import io
import struct
import zipfile
from dataclasses import dataclass
from typing import Union

__all__ = [
    "Build",
    "Bytes",
    "Call",
    "Const",
    "Dict",
    "Expr",
    "Ext",
    "Get",
    "Global",
    "Inst",
    "List",
    "NewObj",
    "Obj",
    "PersId",
    "Put",
    "Str",
    "Tuple",
    "archive",
    "call",
    "forge",
]


@dataclass(frozen=True)
class Global:
    """``module.name``; ``op`` forces ``"GLOBAL"`` or ``"STACK_GLOBAL"`` (default: the
    protocol's own)."""

    module: str
    name: str
    op: str | None = None


@dataclass(frozen=True)
class Str:
    text: str


@dataclass(frozen=True)
class Bytes:
    data: bytes


@dataclass(frozen=True)
class Const:
    """An int, a bool or None."""

    value: int | bool | None


@dataclass(frozen=True)
class List:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Tuple:
    items: tuple[Expr, ...]


@dataclass(frozen=True)
class Dict:
    pairs: tuple[tuple[Expr, Expr], ...]


@dataclass(frozen=True)
class Call:
    """``func(*args)`` through ``REDUCE``."""

    func: Expr
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Inst:
    """``module.name(*args)`` through the protocol-0 ``INST`` opcode."""

    module: str
    name: str
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Obj:
    """``func(*args)`` through the protocol-1 ``OBJ`` opcode."""

    func: Expr
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class NewObj:
    """``cls.__new__(cls, *args)`` through ``NEWOBJ``."""

    cls: Expr
    args: tuple[Expr, ...]


@dataclass(frozen=True)
class Build:
    """``obj`` with ``state`` applied by ``BUILD`` (``__setstate__`` or ``__dict__`` update)."""

    obj: Expr
    state: Expr


@dataclass(frozen=True)
class Ext:
    """An object from the ``copyreg`` extension registry (``EXT1``/``EXT2``/``EXT4``)."""

    code: int


@dataclass(frozen=True)
class Put:
    """``expr``, remembered in the memo under ``index`` (``BINPUT``/``PUT``)."""

    index: int
    expr: Expr


@dataclass(frozen=True)
class Get:
    """The object remembered under ``index``: the same object again (``BINGET``/``GET``)."""

    index: int


@dataclass(frozen=True)
class PersId:
    """A persistent id (``PERSID``), resolved by ``persistent_load``."""

    pid: str


Expr = Union[
    Global,
    Str,
    Bytes,
    Const,
    List,
    Tuple,
    Dict,
    Call,
    Inst,
    Obj,
    NewObj,
    Build,
    Ext,
    Put,
    Get,
    PersId,
]


def call(func: Expr, *args: Expr) -> Call:
    return Call(func, tuple(args))


def _line(text: str) -> bytes:
    return text.encode("utf-8") + b"\n"


def _text0(text: str) -> bytes:
    # What pickle's protocol 0 does for str: raw-unicode-escape, with these characters escaped.
    escapes = (("\\", "\\u005c"), ("\0", "\\u0000"), ("\n", "\\u000a"), ("\r", "\\u000d"))
    for char, escape in escapes:
        text = text.replace(char, escape)
    return b"V" + text.encode("raw-unicode-escape") + b"\n"


class _Writer:
    def __init__(self, protocol: int) -> None:
        self.protocol = protocol
        self.out = io.BytesIO()

    def write(self, expr: Expr) -> None:
        w, p = self.out.write, self.protocol
        if isinstance(expr, Global):
            op = expr.op or ("STACK_GLOBAL" if p >= 4 else "GLOBAL")
            if op == "GLOBAL":
                w(b"c" + _line(expr.module) + _line(expr.name))
            else:
                self.write(Str(expr.module))
                self.write(Str(expr.name))
                w(b"\x93")
        elif isinstance(expr, Str):
            if p == 0:
                w(_text0(expr.text))
            else:
                data = expr.text.encode("utf-8", "surrogatepass")
                w(b"X" + struct.pack("<I", len(data)) + data)
        elif isinstance(expr, Bytes):
            if p >= 3:
                w(b"B" + struct.pack("<I", len(expr.data)) + expr.data)
            else:  # as pickle does for bytes before protocol 3
                latin = expr.data.decode("latin-1")
                self.write(call(Global("_codecs", "encode"), Str(latin), Str("latin1")))
        elif isinstance(expr, Const):
            value = expr.value
            if value is None:
                w(b"N")
            elif isinstance(value, bool):
                w((b"\x88" if value else b"\x89") if p >= 2 else (b"I01\n" if value else b"I00\n"))
            elif p == 0:
                w(b"I" + _line(str(value)))
            else:
                w(b"J" + struct.pack("<i", value))
        elif isinstance(expr, (List, Tuple)):
            w(b"(")
            for item in expr.items:
                self.write(item)
            w(b"l" if isinstance(expr, List) else b"t")
        elif isinstance(expr, Dict):
            w(b"(")
            for key, value in expr.pairs:
                self.write(key)
                self.write(value)
            w(b"d")
        elif isinstance(expr, Call):
            self.write(expr.func)
            self.write(Tuple(expr.args))
            w(b"R")
        elif isinstance(expr, Inst):
            w(b"(")
            for item in expr.args:
                self.write(item)
            w(b"i" + _line(expr.module) + _line(expr.name))
        elif isinstance(expr, Obj):
            w(b"(")
            self.write(expr.func)
            for item in expr.args:
                self.write(item)
            w(b"o")
        elif isinstance(expr, NewObj):
            self.write(expr.cls)
            self.write(Tuple(expr.args))
            w(b"\x81")
        elif isinstance(expr, Build):
            self.write(expr.obj)
            self.write(expr.state)
            w(b"b")
        elif isinstance(expr, Ext):
            if expr.code < 0x100:
                w(b"\x82" + bytes([expr.code]))
            elif expr.code < 0x10000:
                w(b"\x83" + struct.pack("<H", expr.code))
            else:
                w(b"\x84" + struct.pack("<i", expr.code))
        elif isinstance(expr, Put):
            self.write(expr.expr)
            w(b"p" + _line(str(expr.index)) if p == 0 else b"r" + struct.pack("<I", expr.index))
        elif isinstance(expr, Get):
            w(b"g" + _line(str(expr.index)) if p == 0 else b"j" + struct.pack("<I", expr.index))
        elif isinstance(expr, PersId):
            w(b"P" + _line(expr.pid))
        else:  # pragma: no cover - a bug in a test
            raise TypeError(f"not an expression: {expr!r}")


def forge(expr: Expr, protocol: int) -> bytes:
    """The pickle of ``expr`` in ``protocol`` (0 to 5)."""
    writer = _Writer(protocol)
    writer.write(expr)
    body = writer.out.getvalue() + b"."
    if protocol < 2:
        return body
    header = b"\x80" + bytes([protocol])
    if protocol >= 4:
        return header + b"\x95" + struct.pack("<Q", len(body)) + body
    return header + body


def archive(payload: bytes, member: str = "data.pkl") -> bytes:
    """An afnio file (a zip holding ``data.pkl``) around raw pickle bytes."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(member, payload)
    return buffer.getvalue()
