"""Variable data: validation and normalisation, shape (with the ``JAGGED`` marker), traversal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any, Union

__all__ = [
    "JAGGED",
    "Data",
    "leaves",
    "map_leaves",
    "shape_of",
    "validate_and_normalize_data",
]

Scalar = Union[str, int, float, bool]
Data = Union[Scalar, None, list]


class _JaggedDim:
    """Marker used by :attr:`Variable.shape` for a dimension whose length varies between items."""

    _instance: _JaggedDim | None = None

    def __new__(cls) -> _JaggedDim:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "j"

    def __reduce__(self) -> str:
        return "JAGGED"


JAGGED = _JaggedDim()
"""The singleton that stands for a jagged (non-rectangular) dimension in :attr:`Variable.shape`."""


_BAD_DATA = "`data` must be a single value (str, int, float) or a list of such values."
_MIXED_DATA = "When `data` is a list, it must be either all strings or all numbers (int, float)."
_TUPLE_DATA = "`data` must be a `list`, not a `tuple`. Convert with `list(...)`."


def validate_and_normalize_data(data: Any) -> Data:
    """Checks ``data``; returns it normalised (ints become floats in mixed numeric lists)."""
    if data is None or isinstance(data, (str, int, float)):
        return data
    if isinstance(data, tuple):
        raise TypeError(_TUPLE_DATA)
    if not isinstance(data, list):
        raise TypeError(f"{_BAD_DATA} Got {type(data).__name__}: {data!r:.80}.")
    kinds: set[str] = set()

    def scan(items: list) -> None:
        for item in items:
            if item is None:
                continue
            if isinstance(item, list):
                scan(item)
            elif isinstance(item, tuple):
                raise TypeError(_TUPLE_DATA)
            elif isinstance(item, str):
                kinds.add("str")
            elif isinstance(item, float):
                kinds.add("float")
            elif isinstance(item, int):  # bool included
                kinds.add("int")
            else:
                raise TypeError(f"{_BAD_DATA} Got an element of type {type(item).__name__}.")

    scan(data)
    if "str" in kinds and len(kinds) > 1:
        raise TypeError(_MIXED_DATA)
    promote = kinds == {"int", "float"}

    def rebuild(items: list) -> list:
        out: list = []
        for item in items:
            if isinstance(item, list):
                out.append(rebuild(item))
            elif promote and isinstance(item, int):
                try:
                    out.append(float(item))
                except OverflowError:
                    raise TypeError(
                        "`data` mixes ints and floats, and the int "
                        f"{str(item)[:20]}... is too large to become a float."
                    ) from None
            else:
                out.append(item)
        return out

    return rebuild(data)


def shape_of(data: Data) -> tuple:
    if not isinstance(data, list):
        return ()
    dims: list = [len(data)]
    level = [item for item in data]
    while level and all(isinstance(item, list) for item in level):
        lengths = {len(item) for item in level}
        if len(lengths) != 1:
            dims.append(JAGGED)
            # Every deeper level is jagged too once one is.
            deeper = [sub for item in level for sub in item]
            while deeper and any(isinstance(item, list) for item in deeper):
                dims.append(JAGGED)
                deeper = [sub for item in deeper if isinstance(item, list) for sub in item]
            return tuple(dims)
        dims.append(lengths.pop())
        level = [sub for item in level for sub in item]
    if level and any(isinstance(item, list) for item in level):
        dims.append(JAGGED)
    return tuple(dims)


def leaves(data: Data) -> Iterator[Any]:
    if isinstance(data, list):
        for item in data:
            yield from leaves(item)
    else:
        yield data


def map_leaves(data: Data, fn: Callable[[Any], Any]) -> Data:
    if isinstance(data, list):
        return [map_leaves(item, fn) for item in data]
    return None if data is None else fn(data)
