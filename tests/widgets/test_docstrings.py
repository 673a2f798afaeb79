"""Every ``Example:`` in afnio_widgets' docstrings runs and prints what it shows."""

import doctest
import importlib
import pkgutil

import pytest

import afnio_widgets

MODULES = sorted(
    info.name for info in pkgutil.walk_packages(afnio_widgets.__path__, prefix="afnio_widgets.")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name):
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0


def test_public_api():
    for name in afnio_widgets.__all__:
        assert getattr(afnio_widgets, name).__doc__, name
