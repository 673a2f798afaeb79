"""Every ``Example:`` in afnio's docstrings runs and prints what it shows."""

import doctest
import importlib
import pkgutil

import pytest

import afnio

MODULES = sorted(
    info.name
    for info in pkgutil.walk_packages(afnio.__path__, prefix="afnio.")
    if not info.name.endswith("__main__")
)


@pytest.mark.parametrize("name", MODULES)
def test_docstring_examples(name, monkeypatch):
    for var in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "AFNIO_MODEL"):
        monkeypatch.delenv(var, raising=False)
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE)
    assert result.failed == 0
