import doctest
import importlib

import pytest

import afnio.utils

MODULES = [
    "afnio.utils",
    "afnio.utils.data",
    "afnio.utils.data.dataset",
    "afnio.utils.data.sampler",
    "afnio.utils.data.dataloader",
    "afnio.utils.datasets",
    "afnio.utils.datasets.utils",
    "afnio.utils.datasets.facility_support",
    "afnio.utils.datasets.trec",
]


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples_run(name):
    result = doctest.testmod(importlib.import_module(name), optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_exports():
    assert afnio.utils.__all__ == ["agents", "data", "datasets"]
    assert afnio.utils.data.__all__ == [
        "DataLoader",
        "Dataset",
        "RandomSampler",
        "Sampler",
        "SequentialSampler",
        "WeightedRandomSampler",
    ]
    assert sorted(afnio.utils.datasets.__all__) == ["FacilitySupport", "TREC"]
    for package in (afnio.utils, afnio.utils.data, afnio.utils.datasets):
        for name in package.__all__:
            assert getattr(package, name) is not None
