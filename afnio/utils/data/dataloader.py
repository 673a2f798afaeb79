"""The :class:`DataLoader`: batches of samples from a map-style dataset, and how samples are
collated into a batch."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence, Sized
from typing import Any, Generic, TypeVar

from afnio._variable import Variable
from afnio.utils.data.dataset import Dataset
from afnio.utils.data.sampler import RandomSampler, SequentialSampler, check_seed

__all__ = ["DataLoader", "collate_tuple", "default_collate", "uncollate"]

T_co = TypeVar("T_co", covariant=True)


def _merge_variables(items: list[Variable]) -> Variable:
    """One Variable whose data lists the items' data; role and requires_grad of the first."""
    first = items[0]
    try:
        return Variable(
            data=[item.data for item in items],
            role=first.role,
            requires_grad=first.requires_grad,
        )
    except TypeError as error:
        raise TypeError(
            f"Cannot collate the batch's Variables (role {first.role!r}) into one Variable: {error}"
        ) from error


def collate_tuple(items: list[tuple]) -> tuple:
    """Collates a list of same-length tuples position by position.

    At each position, Variables become one batched Variable, nested tuples are collated
    recursively, and anything else becomes a list (a tuple found among non-tuples is collated
    on its own).

    Args:
        items: The samples, all tuples of the same length.

    Returns:
        A tuple with one collated entry per position.

    Raises:
        ValueError: If the tuples differ in length.

    Example:
        >>> from afnio import Variable
        >>> from afnio.utils.data.dataloader import collate_tuple
        >>> batch = collate_tuple([(Variable("a", role="x"), 1), (Variable("b", role="x"), 2)])
        >>> batch[0].data, batch[1]
        (['a', 'b'], [1, 2])
    """
    lengths = {len(item) for item in items}
    if len(lengths) > 1:
        raise ValueError(
            f"Cannot collate tuples of different lengths into a batch: got lengths "
            f"{sorted(lengths)}."
        )
    collated: list[Any] = []
    for column in zip(*items):
        if all(isinstance(x, Variable) for x in column):
            collated.append(_merge_variables(list(column)))
        elif all(isinstance(x, tuple) for x in column):
            collated.append(collate_tuple(list(column)))
        elif any(isinstance(x, tuple) for x in column):
            collated.append([collate_tuple([x]) if isinstance(x, tuple) else x for x in column])
        else:
            collated.append(list(column))
    return tuple(collated)


def default_collate(batch: list[Any]) -> Any:
    """Turns the list of samples drawn for one batch into the batch the loader yields.

    * all dicts → a dict mapping each key to the list of its values (values kept as they are);
    * all tuples → :func:`collate_tuple`;
    * all Variables → one Variable whose ``data`` is the list of their data, with the role and
      ``requires_grad`` of the first (a ``None`` datum, a missing sample, is kept);
    * anything else → the list itself.

    Args:
        batch: The samples, in sampling order.

    Returns:
        The collated batch.

    Raises:
        ValueError: If dicts have different keys, or tuples different lengths.
        TypeError: If Variables' data cannot share one Variable (strings mixed with numbers).

    Example:
        >>> from afnio import Variable
        >>> from afnio.utils.data.dataloader import default_collate
        >>> merged = default_collate([Variable("hi", role="greeting"), Variable(None)])
        >>> merged.data, merged.role
        (['hi', None], 'greeting')
        >>> default_collate([{"q": "a", "n": 1}, {"q": "b", "n": 2}])
        {'q': ['a', 'b'], 'n': [1, 2]}
    """
    if all(isinstance(item, dict) for item in batch):
        keys = list(batch[0])
        for item in batch[1:]:
            if set(item) != set(keys):
                raise ValueError(
                    f"Cannot collate dicts with different keys into a batch: {sorted(keys)!r} "
                    f"vs {sorted(item)!r}."
                )
        return {key: [item[key] for item in batch] for key in keys}
    if all(isinstance(item, tuple) for item in batch):
        return collate_tuple(batch)
    if all(isinstance(item, Variable) for item in batch):
        return _merge_variables(batch)
    return list(batch)


def _batch_length(batch: Any) -> int | None:
    if isinstance(batch, Variable):
        return len(batch.data) if isinstance(batch.data, list) else None
    if isinstance(batch, list):
        return len(batch)
    if isinstance(batch, tuple):
        lengths = {_batch_length(column) for column in batch} - {None}
        return lengths.pop() if len(lengths) == 1 else None
    if isinstance(batch, dict):
        lengths = {_batch_length(column) for column in batch.values()} - {None}
        return lengths.pop() if len(lengths) == 1 else None
    return None


def _sample_of(column: Any, i: int) -> Any:
    if isinstance(column, Variable):
        if not isinstance(column.data, list):
            return column
        return Variable(column.data[i], role=column.role, requires_grad=column.requires_grad)
    if isinstance(column, list):
        return column[i]
    if isinstance(column, tuple):
        return tuple(_sample_of(part, i) for part in column)
    return column


def uncollate(batch: Any) -> list[Any]:
    """Splits a batch made by :func:`default_collate` back into its samples.

    The inverse of collation: a dict of lists gives dicts, a tuple of columns gives tuples, a
    Variable holding a list gives one Variable per item (same role and ``requires_grad``), a list
    gives its items. ``default_collate([sample])`` of any result is a batch of one with the
    batch's structure, which a ``training_step`` can run on alone.

    Args:
        batch: A batch, as a DataLoader yields it.

    Returns:
        The samples, in batch order.

    Raises:
        ValueError: If the columns of a tuple or dict batch have different lengths, or nothing
            in ``batch`` is a batch (no list anywhere).

    Example:
        >>> from afnio.utils.data.dataloader import default_collate, uncollate
        >>> uncollate((["a", "b"], [0, 1]))
        [('a', 0), ('b', 1)]
        >>> default_collate(uncollate({"q": ["a", "b"]})[1:])
        {'q': ['b']}
    """
    columns = list(batch.values()) if isinstance(batch, dict) else batch
    if isinstance(batch, (tuple, dict)):
        lengths = {n for n in map(_batch_length, columns) if n is not None}
        if len(lengths) > 1:
            raise ValueError(
                f"Cannot split the batch into samples: its columns have different lengths "
                f"{sorted(lengths)}."
            )
    n = _batch_length(batch)
    if n is None:
        raise ValueError(
            f"Cannot split {type(batch).__name__} into samples: it holds no list of samples. "
            "Pass a batch as a DataLoader yields it, e.g. next(iter(loader))."
        )
    if isinstance(batch, dict):
        return [{key: _sample_of(column, i) for key, column in batch.items()} for i in range(n)]
    return [_sample_of(batch, i) if not isinstance(batch, list) else batch[i] for i in range(n)]


class _DataLoaderIterator:
    """One pass over a DataLoader; each ``iter(loader)`` gets its own."""

    def __init__(self, loader: DataLoader) -> None:
        self._dataset = loader.dataset
        self._batch_size = loader.batch_size
        self._drop_last = loader.drop_last
        self._indices = iter(loader.sampler)
        self._length = len(loader)

    def __iter__(self) -> _DataLoaderIterator:
        return self

    def __next__(self) -> Any:
        samples = []
        for index in self._indices:
            samples.append(self._dataset[index])
            if len(samples) == self._batch_size:
                break
        if not samples or (self._drop_last and len(samples) < self._batch_size):
            raise StopIteration
        return default_collate(samples)

    def __len__(self) -> int:
        return self._length


class DataLoader(Generic[T_co]):
    """Iterates over a map-style dataset in batches.

    Each ``iter(loader)`` starts an independent pass with its own iterator, so two loops over
    the same loader (even nested, or interleaved) never disturb each other. Samples are
    collated by :func:`~afnio.utils.data.dataloader.default_collate`: tuples position by
    position, Variables merged into one Variable with list data, dicts key by key.

    Args:
        dataset: The dataset to load from (anything with ``__getitem__`` and ``__len__``).
        batch_size: How many samples per batch.
        shuffle: Reshuffle the indices on every pass (with a
            :class:`~afnio.utils.data.RandomSampler`).
        sampler: A custom iterable of indices (for example a
            :class:`~afnio.utils.data.WeightedRandomSampler`); excludes ``shuffle``.
        drop_last: Drop the last batch when it is smaller than ``batch_size``.
        seed: Seed of the shuffling sampler; the same seed gives the same order on every pass.
            Only used with ``shuffle=True``.

    Raises:
        TypeError: If ``dataset`` has no ``__getitem__``/``__len__``, ``sampler`` is not
            iterable, or ``seed`` is not an int or None.
        ValueError: If ``batch_size`` is not a positive int, ``shuffle`` or ``drop_last`` is not
            a bool, or both ``sampler`` and ``shuffle=True`` are given.

    Example:
        >>> from afnio import Variable
        >>> from afnio.utils.data import DataLoader
        >>> samples = [(Variable(f"q{i}", role="question"), f"a{i}") for i in range(5)]
        >>> loader = DataLoader(samples, batch_size=2)
        >>> len(loader)
        3
        >>> for questions, answers in loader:
        ...     print(questions.data, answers)
        ['q0', 'q1'] ['a0', 'a1']
        ['q2', 'q3'] ['a2', 'a3']
        ['q4'] ['a4']
    """

    def __init__(
        self,
        dataset: Dataset[T_co] | Sequence[T_co],
        batch_size: int = 1,
        shuffle: bool = False,
        sampler: Iterable[int] | None = None,
        drop_last: bool = False,
        seed: int | None = None,
    ) -> None:
        if not (hasattr(dataset, "__getitem__") and hasattr(dataset, "__len__")):
            raise TypeError(
                "dataset should be a map-style dataset with __getitem__ and __len__, but got "
                f"{type(dataset).__name__}."
            )
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ValueError(
                f"batch_size should be a positive integer value, but got batch_size={batch_size!r}"
            )
        if not isinstance(shuffle, bool):
            raise ValueError(f"shuffle should be True or False, but got shuffle={shuffle!r}")
        if not isinstance(drop_last, bool):
            raise ValueError(f"drop_last should be True or False, but got drop_last={drop_last!r}")
        check_seed(seed)
        if sampler is not None:
            if shuffle:
                raise ValueError("sampler option is mutually exclusive with shuffle")
            if not hasattr(sampler, "__iter__"):
                raise TypeError(
                    f"sampler should be an iterable of indices, but got {type(sampler).__name__}."
                )
        elif shuffle:
            sampler = RandomSampler(dataset, seed=seed)
        else:
            sampler = SequentialSampler(dataset)
        self.dataset = dataset
        self.batch_size = batch_size
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = seed
        self.sampler: Iterable[int] = sampler

    @property
    def index_sampler(self) -> Iterable[int]:
        """The sampler that yields dataset indices (the same object as :attr:`sampler`)."""
        return self.sampler

    def __iter__(self) -> Iterator[Any]:
        return _DataLoaderIterator(self)

    def __len__(self) -> int:
        """Number of batches in a pass."""
        n = len(self.sampler) if isinstance(self.sampler, Sized) else len(self.dataset)
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)
