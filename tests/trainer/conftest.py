"""Fixtures of the Trainer tests (the toy agent lives in trainer_toys.py)."""

from __future__ import annotations

import pytest
from trainer_toys import make_loader

from afnio.utils.data import DataLoader


@pytest.fixture
def loader() -> DataLoader:
    """Eight samples in batches of two, shuffled with a seed."""
    return make_loader()
