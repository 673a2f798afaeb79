"""Utilities: batching samples (:mod:`afnio.utils.data`) and ready-made datasets
(:mod:`afnio.utils.datasets`)."""

from afnio.utils import data, datasets

__all__ = ["data", "datasets"]
