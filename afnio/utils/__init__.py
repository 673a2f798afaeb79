"""Utilities: batching samples (:mod:`afnio.utils.data`), ready-made datasets
(:mod:`afnio.utils.datasets`) and agents (:mod:`afnio.utils.agents`)."""

from afnio.utils import agents, data, datasets

__all__ = ["agents", "data", "datasets"]
