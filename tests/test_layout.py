"""The package layout: the engine apart from the language-model operations, and no module
reaching into another module's private names."""

import ast
import importlib.util
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

# Private names imported across modules on purpose, each with its reason.
ALLOWED = {
    # The pickled name of the afnio file format: files saved by afnio 0.3.7 refer to it.
    ("afnio._safe_pickle", "afnio.serialization", "_rebuild_variable"),
    ("afnio._variable", "afnio.serialization", "_rebuild_variable"),
}


def _is_module(name: str) -> bool:
    try:
        return importlib.util.find_spec(name) is not None
    except ModuleNotFoundError:  # the parent is a module, not a package
        return False


def _private_imports(package: str) -> list[tuple[str, str, str]]:
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or node.level or node.module is None:
                continue
            for alias in node.names:
                name = alias.name
                if not name.startswith("_") or name.startswith("__"):
                    continue
                if _is_module(f"{node.module}.{name}"):
                    continue  # a private module of a package, imported as a module
                found.append((module, node.module, name))
    return found


@pytest.mark.parametrize("package", ["afnio", "afnio_widgets"])
def test_no_module_imports_another_modules_private_names(package):
    found = [f for f in _private_imports(package) if f not in ALLOWED]
    assert found == [], "\n".join(f"{m}: from {src} import {name}" for m, src, name in found)


def test_lm_operations_live_in_afnio_lm_and_keep_their_0_3_7_paths():
    import afnio.autodiff.evaluator
    import afnio.autodiff.lm_ops
    import afnio.lm

    assert afnio.autodiff.lm_ops.ChatCompletion is afnio.lm.ChatCompletion
    for name in ("DeterministicEvaluator", "ExactMatchEvaluator", "LMJudgeEvaluator"):
        assert getattr(afnio.autodiff.evaluator, name) is getattr(afnio.lm, name)
    engine = {p.name for p in (ROOT / "afnio" / "autodiff").glob("*.py")}
    assert not engine & {"_lm_backward.py", "_prompts.py", "_evaluator_args.py"}


def test_the_engine_imports_no_language_model_code():
    shims = {"lm_ops.py", "evaluator.py"}  # afnio 0.3.7's module paths, re-exporting afnio.lm
    for path in sorted((ROOT / "afnio" / "autodiff").glob("*.py")):
        if path.name in shims:
            continue
        tree = ast.parse(path.read_text(encoding="utf-8"))
        typing_only = {
            id(child)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING"
            for child in ast.walk(node)
        }
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module and id(node) not in typing_only:
                assert not node.module.startswith(("afnio.lm", "afnio.models")), path.name


def test_ruff_sorts_every_dunder_all_instead_of_asserts():
    tomllib = pytest.importorskip("tomllib")  # Python 3.11+

    lint = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["ruff"]
    assert "RUF022" not in lint["lint"].get("ignore", [])
    for package in ("afnio", "afnio_widgets"):
        for path in (ROOT / package).rglob("__init__.py"):
            assert "assert __all__ == sorted(__all__)" not in path.read_text(encoding="utf-8")
