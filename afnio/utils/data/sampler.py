"""Samplers: the order in which a :class:`~afnio.utils.data.DataLoader` visits dataset indices.

Every random sampler owns a private :class:`random.Random` built from its ``seed`` at the start
of each iteration, so the same seed gives the same order on every pass, and iterating never
touches (or depends on) the state of Python's global :mod:`random` module.

For a given seed the orders are those of afnio 0.3.7, which re-seeded the *global* generator
with ``random.seed(seed)`` and drew with ``random.sample`` / ``random.choices``: the private
generator makes the same calls. (The one deliberate difference: a
:class:`WeightedRandomSampler` without replacement follows its weights; 0.3.7 ignored them.)
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator, Sequence, Sized
from typing import Generic, TypeVar

__all__ = ["RandomSampler", "Sampler", "SequentialSampler", "WeightedRandomSampler"]

T_co = TypeVar("T_co", covariant=True)


def _is_positive_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def check_seed(seed: object) -> None:
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise TypeError(f"seed should be an int or None, but got seed={seed!r}")


def _rng(seed: int | None) -> random.Random:
    """A fresh generator for one pass: seeded, or from OS entropy when ``seed`` is None."""
    return random.Random(seed)


class Sampler(Generic[T_co]):
    """Base class of all samplers: an iterable over dataset indices.

    Subclasses implement ``__init__`` and ``__iter__`` and usually ``__len__``.

    Example:
        >>> from afnio.utils.data import Sampler
        >>> class EvenFirst(Sampler[int]):
        ...     def __init__(self, data_source):
        ...         self.n = len(data_source)
        ...     def __iter__(self):
        ...         yield from range(0, self.n, 2)
        ...         yield from range(1, self.n, 2)
        ...     def __len__(self):
        ...         return self.n
        >>> list(EvenFirst("abcde"))
        [0, 2, 4, 1, 3]
    """

    def __init__(self, data_source: Sized | None = None) -> None:
        raise NotImplementedError("Subclasses of Sampler should implement __init__.")

    def __iter__(self) -> Iterator[T_co]:
        raise NotImplementedError("Subclasses of Sampler should implement __iter__.")


class SequentialSampler(Sampler[int]):
    """Yields ``0, 1, …, len(data_source) - 1`` in order.

    Args:
        data_source: The dataset (anything with a length).

    Example:
        >>> from afnio.utils.data import SequentialSampler
        >>> list(SequentialSampler(["a", "b", "c"]))
        [0, 1, 2]
    """

    def __init__(self, data_source: Sized) -> None:
        self.data_source = data_source

    def __iter__(self) -> Iterator[int]:
        return iter(range(len(self.data_source)))

    def __len__(self) -> int:
        return len(self.data_source)


class RandomSampler(Sampler[int]):
    """Yields dataset indices in random order.

    Without replacement every pass is a permutation of the dataset (repeated, then truncated,
    when ``num_samples`` exceeds its length); with replacement each index is drawn uniformly
    and independently.

    Args:
        data_source: The dataset (anything with a length).
        replacement: Whether an index may be drawn more than once in a pass.
        num_samples: How many indices a pass yields (default: the dataset length).
        seed: Seed of the sampler's own random generator; the same seed gives the same order on
            every pass. ``None`` draws fresh OS entropy for each pass.

    Raises:
        TypeError: If ``replacement`` is not a bool or ``seed`` not an int or None.
        ValueError: If ``num_samples`` (or the dataset length, when it is not given) is not a
            positive integer.

    Example:
        >>> from afnio.utils.data import RandomSampler
        >>> sampler = RandomSampler(range(5), seed=42)
        >>> list(sampler)  # afnio 0.3.7's order for this seed
        [0, 4, 2, 1, 3]
        >>> list(sampler) == list(sampler)
        True
        >>> len(RandomSampler(range(5), replacement=True, num_samples=8))
        8
    """

    def __init__(
        self,
        data_source: Sized,
        replacement: bool = False,
        num_samples: int | None = None,
        seed: int | None = None,
    ) -> None:
        if not isinstance(replacement, bool):
            raise TypeError(
                f"replacement should be a boolean value, but got replacement={replacement!r}"
            )
        check_seed(seed)
        self.data_source = data_source
        self.replacement = replacement
        self._num_samples = num_samples
        self.seed = seed
        if not _is_positive_int(self.num_samples):
            raise ValueError(
                "num_samples should be a positive integer value, but got "
                f"num_samples={self.num_samples!r}"
            )

    @property
    def num_samples(self) -> int:
        """How many indices a pass yields (the dataset length unless given explicitly)."""
        if self._num_samples is None:
            return len(self.data_source)
        return self._num_samples

    def __iter__(self) -> Iterator[int]:
        n = len(self.data_source)
        num_samples = self.num_samples
        rng = _rng(self.seed)
        # The calls of afnio 0.3.7 (on its private generator), so a seed gives 0.3.7's order.
        if self.replacement:
            for _ in range(num_samples // 32):
                yield from rng.choices(range(n), k=32)
            yield from rng.choices(range(n), k=num_samples % 32)
            return
        for _ in range(num_samples // n):
            yield from rng.sample(range(n), n)
        yield from rng.sample(range(n), num_samples % n)

    def __len__(self) -> int:
        return self.num_samples


class WeightedRandomSampler(Sampler[int]):
    """Yields indices ``0 … len(weights) - 1``, each drawn with probability proportional to its
    weight.

    With replacement every draw is independent. Without replacement each index appears at most
    once and the order follows the weights too: it is the order of successive weighted draws
    from the items not yet chosen (heavy items tend to come first). Items of weight 0 are never
    drawn.

    Args:
        weights: One non-negative weight per index; they need not sum to one.
        num_samples: How many indices a pass yields.
        replacement: Whether an index may be drawn more than once in a pass.
        seed: Seed of the sampler's own random generator; the same seed gives the same order on
            every pass. ``None`` draws fresh OS entropy for each pass.

    Raises:
        ValueError: If ``num_samples`` is not a positive int, ``replacement`` is not a bool,
            ``weights`` is empty, holds a non-number, a negative or non-finite value, or only
            zeros, or if, without replacement, ``num_samples`` exceeds the number of items (or
            of items with a positive weight).
        TypeError: If ``seed`` is not an int or None.

    Example:
        >>> from afnio.utils.data import WeightedRandomSampler
        >>> sampler = WeightedRandomSampler([0.0, 0.0, 5.0], num_samples=4, seed=0)
        >>> list(sampler)
        [2, 2, 2, 2]
        >>> list(WeightedRandomSampler([0.1, 0.9, 0.4, 0.7, 3.0, 0.6], 5, seed=0))
        [4, 4, 4, 3, 4]
        >>> sorted(WeightedRandomSampler([3, 1, 1], num_samples=3, replacement=False, seed=0))
        [0, 1, 2]
    """

    def __init__(
        self,
        weights: Sequence[float],
        num_samples: int,
        replacement: bool = True,
        seed: int | None = None,
    ) -> None:
        if not _is_positive_int(num_samples):
            raise ValueError(
                "num_samples should be a positive integer value, but got "
                f"num_samples={num_samples!r}"
            )
        if not isinstance(replacement, bool):
            raise ValueError(
                f"replacement should be a boolean value, but got replacement={replacement!r}"
            )
        check_seed(seed)
        if (
            not isinstance(weights, Sequence)
            or isinstance(weights, (str, bytes))
            or len(weights) == 0
            or not all(isinstance(w, (int, float)) and not isinstance(w, bool) for w in weights)
        ):
            raise ValueError("Weights must be a non-empty sequence of numbers.")
        for i, w in enumerate(weights):
            if not math.isfinite(w) or w < 0:
                raise ValueError(
                    f"`weights` must be finite and non-negative, but weights[{i}]={w!r}."
                )
        positive = sum(1 for w in weights if w > 0)
        if positive == 0:
            raise ValueError("`weights` are all zero: at least one weight must be positive.")
        if not replacement:
            if num_samples > len(weights):
                raise ValueError(
                    f"num_samples ({num_samples}) cannot be greater than the population size "
                    f"({len(weights)}) when replacement is False."
                )
            if num_samples > positive:
                raise ValueError(
                    f"num_samples ({num_samples}) cannot be greater than the number of positive "
                    f"weights ({positive}) when replacement is False: items of weight 0 are "
                    "never drawn."
                )
        self.weights: list[float] = [float(w) for w in weights]
        self.num_samples = num_samples
        self.replacement = replacement
        self.seed = seed

    def __iter__(self) -> Iterator[int]:
        rng = _rng(self.seed)
        indices = range(len(self.weights))
        if self.replacement:
            # Normalised weights, as afnio 0.3.7 passed them: the same seed gives its order.
            total = sum(self.weights)
            normalised = [w / total for w in self.weights]
            yield from rng.choices(indices, weights=normalised, k=self.num_samples)
            return
        # Efraimidis-Spirakis: give item i the key log(u_i) / w_i with u_i uniform in (0, 1];
        # sorting by decreasing key yields successive weighted draws without replacement.
        keys = []
        for i in indices:
            u = 1.0 - rng.random()
            if self.weights[i] > 0:
                keys.append((math.log(u) / self.weights[i], i))
        keys.sort(key=lambda pair: pair[0], reverse=True)
        for _, i in keys[: self.num_samples]:
            yield i

    def __len__(self) -> int:
        return self.num_samples
