"""Datasets, samplers and the :class:`DataLoader` that batches samples for training.

Example:
    >>> from afnio import Variable
    >>> from afnio.utils.data import DataLoader
    >>> loader = DataLoader([Variable(t, role="review") for t in "abc"], batch_size=2)
    >>> [batch.data for batch in loader]
    [['a', 'b'], ['c']]
"""

from afnio.utils.data.dataloader import DataLoader
from afnio.utils.data.dataset import Dataset
from afnio.utils.data.sampler import (
    RandomSampler,
    Sampler,
    SequentialSampler,
    WeightedRandomSampler,
)

__all__ = [
    "DataLoader",
    "Dataset",
    "RandomSampler",
    "Sampler",
    "SequentialSampler",
    "WeightedRandomSampler",
]
