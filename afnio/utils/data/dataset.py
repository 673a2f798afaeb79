"""The map-style :class:`Dataset` base class."""

from __future__ import annotations

from typing import Generic, TypeVar

__all__ = ["Dataset"]

T_co = TypeVar("T_co", covariant=True)


class Dataset(Generic[T_co]):
    """An abstract map-style dataset: samples looked up by an integer index.

    Subclasses implement ``__getitem__`` (one sample for an index in ``range(len(self))``) and
    ``__len__``. A sample is usually a Variable, a tuple of Variables such as ``(input, target)``,
    a dict, or plain strings; :class:`~afnio.utils.data.DataLoader` batches any of them.

    Example:
        >>> from afnio import Variable
        >>> from afnio.utils.data import Dataset
        >>> class Questions(Dataset):
        ...     def __init__(self, pairs):
        ...         self.pairs = pairs
        ...     def __getitem__(self, index):
        ...         question, answer = self.pairs[index]
        ...         return Variable(question, role="question"), Variable(answer, role="answer")
        ...     def __len__(self):
        ...         return len(self.pairs)
        >>> data = Questions([("2+2?", "4"), ("Capital of Italy?", "Rome")])
        >>> len(data), data[1][0].data
        (2, 'Capital of Italy?')
    """

    def __getitem__(self, index: int) -> T_co:
        raise NotImplementedError("Subclasses of Dataset should implement __getitem__.")

    def __len__(self) -> int:
        raise NotImplementedError("Subclasses of Dataset should implement __len__.")
