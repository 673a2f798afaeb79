"""Hostile files: ``afnio.load`` runs nothing, lets in nothing but afnio data, and loses nothing.

Every payload below would create a marker file if it ran. Each is loaded twice: by default, where
it must be refused with a clear error and the marker must not exist; and with
``weights_only=False`` (what a user does for a file they trust), where the marker must appear —
which proves the payload is live, not a dud that would be "refused" by accident.
"""

from __future__ import annotations

import builtins
import copy
import copyreg
import io
import marshal
import math
import os
import pickle
import random
import shlex
import struct
import subprocess
import tempfile
import tracemalloc
import uuid
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pickle_forge import (
    Build,
    Bytes,
    Call,
    Const,
    Dict,
    Expr,
    Ext,
    Get,
    Global,
    Inst,
    List,
    NewObj,
    Obj,
    PersId,
    Put,
    Str,
    Tuple,
    archive,
    call,
    forge,
)
from sentiment_agent import SentimentAgent, install, make_clients, make_loaders, make_trainer

import afnio
import afnio.cognitive as cog
from afnio import Variable
from afnio._model_client import ModelClientSingleton
from afnio.cognitive import Parameter
from afnio.optim import TGD
from afnio.testing import LocalServer, ScriptedModel
from afnio.trainer import _checkpoint

PROTOCOLS = range(6)
SECTION = "hostile_files"
REFUSED = (pickle.UnpicklingError, RuntimeError)

_COUNTS: dict[str, int] = {}
_REFUSALS: set[str] = set()


def _count(name: str, amount: int = 1) -> None:
    _COUNTS[name] = _COUNTS.get(name, 0) + amount


@pytest.fixture(scope="module", autouse=True)
def _report(figures):
    yield
    for name, count in _COUNTS.items():
        figures.add(SECTION, name, count)
    figures.put(SECTION, "refusals", sorted(_REFUSALS))


# -- the payloads -------------------------------------------------------------------------------


@dataclass
class Scene:
    """Where one payload leaves its marker, and the props some payloads need."""

    marker: Path
    module: str  # a module whose import creates the marker
    script: Path  # a script that creates the marker
    source: Path  # an existing file a payload can copy onto the marker
    inner: Path  # a trusted-looking afnio file holding an os.system payload

    @property
    def shell(self) -> str:
        return f"touch {shlex.quote(str(self.marker))}"

    @property
    def python(self) -> str:
        return f"open({str(self.marker)!r}, 'w').close()"


def _marshalled(scene: Scene) -> bytes:
    return marshal.dumps(compile(scene.python, "<payload>", "exec"))


def _touch_argv(scene: Scene) -> Expr:
    return List((Str("touch"), Str(str(scene.marker))))


def _os_system(scene: Scene) -> Expr:
    return call(Global("os", "system"), Str(scene.shell))


# name -> (expression builder, protocols it applies to)
PRIMITIVES: dict[str, tuple[Callable[[Scene], Expr], tuple[int, ...]]] = {
    "os.system": (_os_system, tuple(PROTOCOLS)),
    "posix.system": (lambda s: call(Global("posix", "system"), Str(s.shell)), tuple(PROTOCOLS)),
    # Python 2 names that pickle maps for protocols 0-2 (fix_imports).
    "commands.getoutput (py2 alias of subprocess)": (
        lambda s: call(Global("commands", "getoutput"), Str(s.shell)),
        (0, 1, 2),
    ),
    "__builtin__.eval (py2 alias of builtins)": (
        lambda s: call(Global("__builtin__", "eval"), Str(s.python)),
        (0, 1, 2),
    ),
    "subprocess.Popen": (lambda s: call(Global("subprocess", "Popen"), _touch_argv(s)), (2, 5)),
    "subprocess.check_output": (
        lambda s: call(Global("subprocess", "check_output"), _touch_argv(s)),
        tuple(PROTOCOLS),
    ),
    "subprocess.call": (lambda s: call(Global("subprocess", "call"), _touch_argv(s)), (0, 4)),
    "subprocess.run": (lambda s: call(Global("subprocess", "run"), _touch_argv(s)), (1, 3)),
    "builtins.eval": (lambda s: call(Global("builtins", "eval"), Str(s.python)), tuple(PROTOCOLS)),
    "builtins.exec": (lambda s: call(Global("builtins", "exec"), Str(s.python)), tuple(PROTOCOLS)),
    "builtins.getattr(__import__('os'), 'system')": (
        lambda s: call(
            call(
                Global("builtins", "getattr"),
                call(Global("builtins", "__import__"), Str("os")),
                Str("system"),
            ),
            Str(s.shell),
        ),
        tuple(PROTOCOLS),
    ),
    "builtins.__import__ (module with an import side effect)": (
        lambda s: call(Global("builtins", "__import__"), Str(s.module)),
        tuple(PROTOCOLS),
    ),
    "importlib.import_module": (
        lambda s: call(Global("importlib", "import_module"), Str(s.module)),
        tuple(PROTOCOLS),
    ),
    "builtins.open": (
        lambda s: call(Global("builtins", "open"), Str(str(s.marker)), Str("w")),
        tuple(PROTOCOLS),
    ),
    "io.open": (lambda s: call(Global("io", "open"), Str(str(s.marker)), Str("w")), (0, 4)),
    "posix.mkdir": (lambda s: call(Global("posix", "mkdir"), Str(str(s.marker))), (1, 5)),
    "shutil.copyfile": (
        lambda s: call(Global("shutil", "copyfile"), Str(str(s.source)), Str(str(s.marker))),
        (2, 3),
    ),
    "runpy.run_path": (lambda s: call(Global("runpy", "run_path"), Str(str(s.script))), (0, 5)),
    "timeit.timeit": (
        lambda s: call(
            Global("timeit", "timeit"),
            Str(s.python),
            Str("pass"),
            Global("time", "perf_counter"),
            Const(1),
        ),
        (1, 4),
    ),
    "functools.partial(os.system, ...)()": (
        lambda s: call(call(Global("functools", "partial"), Global("os", "system"), Str(s.shell))),
        tuple(PROTOCOLS),
    ),
    "operator.methodcaller('system', ...)(os)": (
        lambda s: call(
            call(Global("operator", "methodcaller"), Str("system"), Str(s.shell)),
            call(Global("builtins", "__import__"), Str("os")),
        ),
        (2, 4),
    ),
    "copyreg._reconstructor(Popen, Popen, argv)": (
        lambda s: call(
            Global("copyreg", "_reconstructor"),
            Global("subprocess", "Popen"),
            Global("subprocess", "Popen"),
            _touch_argv(s),
        ),
        tuple(PROTOCOLS),
    ),
    "copy_reg._reconstructor (py2 alias)": (
        lambda s: call(
            Global("copy_reg", "_reconstructor"),
            Global("subprocess", "Popen"),
            Global("subprocess", "Popen"),
            _touch_argv(s),
        ),
        (0, 2),
    ),
    "types.FunctionType(marshal.loads(code))()": (
        lambda s: call(
            call(
                Global("types", "FunctionType"),
                call(Global("marshal", "loads"), Bytes(_marshalled(s))),
                Dict(()),
            )
        ),
        tuple(PROTOCOLS),
    ),
    "pickle.loads(nested pickle)": (
        lambda s: call(Global("pickle", "loads"), Bytes(forge(_os_system(s), 2))),
        (0, 3, 5),
    ),
    "_pickle.loads(nested pickle)": (
        lambda s: call(Global("_pickle", "loads"), Bytes(forge(_os_system(s), 4))),
        (1, 4),
    ),
    "afnio.serialization.load(trusted=False)": (
        lambda s: call(Global("afnio.serialization", "load"), Str(str(s.inner)), Const(False)),
        tuple(PROTOCOLS),
    ),
    "afnio.serialization.save (writes a file)": (
        lambda s: call(Global("afnio.serialization", "save"), Const(1), Str(str(s.marker))),
        tuple(PROTOCOLS),
    ),
    # Dotted names are resolved attribute by attribute from protocol 4 on: through an allowed
    # afnio module one could reach everything it imports.
    "dotted name afnio.serialization.os.system": (
        lambda s: call(Global("afnio.serialization", "os.system"), Str(s.shell)),
        (4, 5),
    ),
    "dotted name afnio.serialization.pickle.loads": (
        lambda s: call(
            Global("afnio.serialization", "pickle.loads"), Bytes(forge(_os_system(s), 3))
        ),
        (4, 5),
    ),
    "GLOBAL opcode in protocols 4-5": (
        lambda s: call(Global("os", "system", op="GLOBAL"), Str(s.shell)),
        (4, 5),
    ),
    "STACK_GLOBAL opcode in protocols 1-3": (
        lambda s: call(Global("os", "system", op="STACK_GLOBAL"), Str(s.shell)),
        (1, 2, 3),
    ),
    "INST opcode": (lambda s: Inst("os", "system", (Str(s.shell),)), tuple(PROTOCOLS)),
    "OBJ opcode": (lambda s: Obj(Global("os", "system"), (Str(s.shell),)), tuple(PROTOCOLS)),
    # The payload hidden inside the things afnio itself allows.
    "inside a Variable's grad list (_rebuild_variable)": (
        lambda s: call(
            Global("afnio.serialization", "_rebuild_variable"),
            Global("afnio._variable", "Variable"),
            Dict(((Str("data"), Str("x")), (Str("grad"), List((_os_system(s),))))),
        ),
        tuple(PROTOCOLS),
    ),
    "inside a Parameter's data (_rebuild_variable)": (
        lambda s: call(
            Global("afnio.serialization", "_rebuild_variable"),
            Global("afnio.cognitive.parameter", "Parameter"),
            Dict(((Str("data"), _os_system(s)),)),
        ),
        (0, 3, 5),
    ),
    "inside the BUILD state of a Variable": (
        lambda s: Build(
            NewObj(Global("afnio._variable", "Variable"), ()),
            Dict(((Str("_data"), _os_system(s)),)),
        ),
        (2, 3, 4, 5),
    ),
    "inside collections.OrderedDict": (
        lambda s: call(
            Global("collections", "OrderedDict"), List((Tuple((Str("k"), _os_system(s))),))
        ),
        (0, 2, 4),
    ),
    "inside builtins.set": (
        lambda s: call(Global("builtins", "set"), List((_os_system(s),))),
        (1, 5),
    ),
    "inside _codecs.encode": (
        lambda s: call(Global("_codecs", "encode"), _os_system(s), Str("latin1")),
        (0, 2),
    ),
}

EXTENSION_CODE = 0xF3


def _live_result(result: Any) -> None:
    """Lets a payload that started a process finish it (``Popen`` returns at once)."""
    if isinstance(result, subprocess.Popen):
        result.wait()


def _scene(tmp_path: Path, label: str, monkeypatch: pytest.MonkeyPatch) -> Scene:
    folder = tmp_path / label
    folder.mkdir()
    marker = folder / "MARKER"
    module = f"afnio_reliability_payload_{uuid.uuid4().hex}"
    modules = folder / "modules"
    modules.mkdir()
    (modules / f"{module}.py").write_text(f"open({str(marker)!r}, 'w').close()\n")
    monkeypatch.syspath_prepend(str(modules))
    script = folder / "script.py"
    script.write_text(f"open({str(marker)!r}, 'w').close()\n")
    source = folder / "source.txt"
    source.write_text("x")
    inner = folder / "inner.hf"
    scene = Scene(marker, module, script, source, inner)
    inner.write_bytes(archive(forge(_os_system(scene), 2)))
    return scene


@pytest.fixture
def extension():
    """Registers ``os.system`` as a copyreg extension for the EXT opcode payloads."""
    copyreg.add_extension("posix", "system", EXTENSION_CODE)
    yield
    copyreg.remove_extension("posix", "system", EXTENSION_CODE)


def _assert_refused(blob: bytes, scene: Scene, refusal: str | None = None) -> str:
    """Loads ``blob`` by default: refused, nothing ran, and (if given) the message says what
    was refused, e.g. ``"the global 'os.system'"``, and how to load a trusted file."""
    with pytest.raises(REFUSED) as info:
        afnio.load(io.BytesIO(blob))
    message = str(info.value)
    assert not scene.marker.exists(), "the payload ran during a default load"
    if refusal is not None:
        assert f"refused to {refusal}" in message
        assert "weights_only=False" in message and "add_safe_globals" in message
        _REFUSALS.add(refusal)
    _count("payloads_refused")
    return message


def _global(name: str) -> str:
    return f"load the global '{name}'"


def _assert_live(blob: bytes, scene: Scene) -> None:
    try:
        _live_result(afnio.load(io.BytesIO(blob), weights_only=False))
    except Exception:  # many payloads break the data they sit in after they ran
        pass
    assert scene.marker.exists(), "the payload is not live: it did not run when trusted"
    _count("payloads_proven_live")


ALLOWED = {
    "afnio.serialization._rebuild_variable",
    "afnio._variable.Variable",
    "afnio.cognitive.parameter.Parameter",
    "collections.OrderedDict",
    "builtins.set",
    "_codecs.encode",
}
PY2_MODULES = {"__builtin__": "builtins", "copy_reg": "copyreg", "commands": "subprocess"}


def _refusals(expr: Any) -> Iterator[str]:
    """What a default load must refuse in ``expr``, in the order the unpickler meets it: every
    global that is not allowed, and ``NEWOBJ`` of anything but an ``OrderedDict``."""
    if isinstance(expr, Global):
        name = f"{PY2_MODULES.get(expr.module, expr.module)}.{expr.name}"
        if name not in ALLOWED:
            yield _global(name)
    elif isinstance(expr, Inst):  # INST looks its class up after the arguments
        for item in expr.args:
            yield from _refusals(item)
        yield _global(f"{expr.module}.{expr.name}")
    elif isinstance(expr, (Call, Obj)):
        yield from _refusals(expr.func)
        for item in expr.args:
            yield from _refusals(item)
    elif isinstance(expr, NewObj):
        yield from _refusals(expr.cls)
        for item in expr.args:
            yield from _refusals(item)
        if isinstance(expr.cls, Global) and expr.cls.name != "OrderedDict":
            yield f"build an object of '{expr.cls.module}.{expr.cls.name}' with NEWOBJ"
    elif isinstance(expr, Build):
        yield from _refusals(expr.obj)
        yield from _refusals(expr.state)
    elif isinstance(expr, (List, Tuple)):
        for item in expr.items:
            yield from _refusals(item)
    elif isinstance(expr, Dict):
        for key, value in expr.pairs:
            yield from _refusals(key)
            yield from _refusals(value)


@pytest.mark.parametrize("name", list(PRIMITIVES))
def test_forged_payload_is_refused_and_runs_nothing(name, tmp_path, monkeypatch, figures):
    build, protocols = PRIMITIVES[name]
    for protocol in protocols:
        scene = _scene(tmp_path, f"p{protocol}", monkeypatch)
        expr = build(scene)
        blob = archive(forge(expr, protocol))
        _assert_refused(blob, scene, next(_refusals(expr)))
        _assert_live(blob, scene)
        figures.add(SECTION, "forged_payload_files")
    figures.add(SECTION, "forged_payload_kinds")


# -- payloads pickled by Python itself, nested in afnio objects ----------------------------------


class Evil:
    """An object whose unpickling calls ``func(*args)``."""

    def __init__(self, func: Callable[..., Any], *args: Any) -> None:
        self.func, self.args = func, args

    def __reduce__(self) -> tuple:
        return (self.func, self.args)


EVILS: dict[str, Callable[[Scene], Evil]] = {
    "os.system": lambda s: Evil(os.system, s.shell),
    "builtins.open": lambda s: Evil(builtins.open, str(s.marker), "w"),
    "subprocess.check_output": lambda s: Evil(subprocess.check_output, ["touch", str(s.marker)]),
}


# Where these functions really live, as pickle names them.
NAMES = {"os.system": "posix.system", "builtins.open": "io.open"}


def _module_with_state() -> cog.Module:
    module = cog.Module()
    module.prompt = Parameter("Classify the sentiment.", role="system prompt")
    module.register_buffer("sep", Variable(" | ", role="separator"))
    module.chat = [{"role": "system", "content": [Variable("Be brief.", role="instruction")]}]
    module.args = {"temperature": 0, "seed": 1}
    module.reduce = sum
    return module


def _optimizer_state() -> dict[str, Any]:
    param = Parameter("Be brief.", role="system prompt")
    optimizer = TGD([param], model_client=None, momentum=2, model="gpt-4o-mini")
    snapshot = Variable("Be short.", role="system prompt")
    optimizer.state[param]["momentum_buffer"] = [(snapshot, [Variable("Shorter.")])]
    return optimizer.state_dict()


def _in_variable_grad(evil: Evil) -> Any:
    v = Variable("answer", role="answer", requires_grad=True)
    v._grads().append(evil)
    return v


def _in_variable_data(evil: Evil) -> Any:
    v = Variable("answer", role="answer")
    v._data = evil
    return v


def _in_variable_role(evil: Evil) -> Any:
    v = Variable("answer")
    v._role = evil  # past the role setter's check, as a forged file would be
    return v


def _in_parameter_grad(evil: Evil) -> Any:
    p = Parameter("Be brief.", role="system prompt")
    p._grads().extend([Variable("ok"), evil])
    return {"prompt": p}


def _in_state_dict_entry(evil: Evil) -> Any:
    sd = _module_with_state().state_dict()
    sd["prompt"] = evil
    return sd


def _in_state_dict_chat(evil: Evil) -> Any:
    sd = _module_with_state().state_dict()
    sd["chat"][0]["content"].append(evil)
    return sd


def _in_state_dict_config(evil: Evil) -> Any:
    sd = _module_with_state().state_dict()
    sd["args"]["temperature"] = evil
    return sd


def _in_state_dict_metadata(evil: Evil) -> Any:
    sd = _module_with_state().state_dict()
    sd._metadata[""] = {"version": evil}
    return sd


def _in_optimizer_momentum(evil: Evil) -> Any:
    sd = _optimizer_state()
    sd["state"][0]["momentum_buffer"][0] = (evil, [Variable("Shorter.")])
    return sd


def _in_optimizer_messages(evil: Evil) -> Any:
    sd = _optimizer_state()
    sd["param_groups"][0]["messages"][0]["content"].append(evil)
    return sd


def _in_optimizer_completion_args(evil: Evil) -> Any:
    sd = _optimizer_state()
    sd["param_groups"][0]["completion_args"]["model"] = evil
    return sd


CONTAINERS: dict[str, Callable[[Evil], Any]] = {
    "bare": lambda evil: evil,
    "Variable grad list": _in_variable_grad,
    "Variable data": _in_variable_data,
    "Variable role": _in_variable_role,
    "Parameter grad list": _in_parameter_grad,
    "Module state dict entry": _in_state_dict_entry,
    "Module state dict chat": _in_state_dict_chat,
    "Module state dict completion config": _in_state_dict_config,
    "Module state dict _metadata": _in_state_dict_metadata,
    "optimizer momentum buffer": _in_optimizer_momentum,
    "optimizer messages": _in_optimizer_messages,
    "optimizer completion args": _in_optimizer_completion_args,
}


@pytest.mark.parametrize("container", list(CONTAINERS))
@pytest.mark.parametrize("evil", list(EVILS))
def test_nested_payload_is_refused_and_runs_nothing(
    evil, container, tmp_path, monkeypatch, figures
):
    for protocol in PROTOCOLS:
        scene = _scene(tmp_path, f"p{protocol}", monkeypatch)
        buffer = io.BytesIO()
        afnio.save(CONTAINERS[container](EVILS[evil](scene)), buffer, pickle_protocol=protocol)
        blob = buffer.getvalue()
        _assert_refused(blob, scene, _global(NAMES.get(evil, evil)))
        _assert_live(blob, scene)
        figures.add(SECTION, "nested_payload_files")


# -- real Trainer checkpoints --------------------------------------------------------------------


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory) -> dict[str, Any]:
    """A checkpoint written by the Trainer, loaded (safely): the first batch of a real run."""
    root = tmp_path_factory.mktemp("trainer")
    script = ScriptedModel()
    install(script)
    with LocalServer(script) as server:
        forward_model, optimizer_model, clients = make_clients(server.base_url, server.api_key)
        agent = SentimentAgent(forward_model, optimizer_model)
        train, _ = make_loaders()
        make_trainer(root, max_epochs=1).fit(agent, train, llm_clients=clients)
    ModelClientSingleton._instance = None
    paths = sorted(root.rglob("*.hf"))
    assert paths
    return afnio.load(paths[0])


def _model_entry(state: dict[str, Any]) -> dict[str, Any]:
    return next(v for v in state.values() if isinstance(v, dict) and "class_type" in v)


SPOTS: dict[str, Callable[[dict[str, Any], Evil], None]] = {
    "agent: a parameter's grad": lambda c, e: (
        c["agent_state_dict"]["system_prompt"]._grads().append(e)
    ),
    "agent: a model client's usage": lambda c, e: _model_entry(c["agent_state_dict"])[
        "usage"
    ].update(cost=e),
    "optimizer: its messages": lambda c, e: c["optimizer_state_dict"]["param_groups"][0][
        "messages"
    ][0]["content"].append(e),
    "trainer: its history": lambda c, e: c["trainer_state"]["history"].append(e),
    "trainer: the random state": lambda c, e: c["trainer_state"].update(random_state=(3, e, None)),
    "top level": lambda c, e: c.update(callbacks=e),
}


@pytest.mark.parametrize("spot", list(SPOTS))
@pytest.mark.parametrize("evil", list(EVILS))
def test_hostile_trainer_checkpoint_is_refused_by_load_and_by_resume(
    evil, spot, checkpoint, tmp_path, monkeypatch, figures, forget_backward_client
):
    for protocol in (2, 5):
        scene = _scene(tmp_path, f"p{protocol}", monkeypatch)
        hostile = copy.deepcopy(checkpoint)
        SPOTS[spot](hostile, EVILS[evil](scene))
        path = scene.marker.parent / "checkpoint.hf"
        afnio.save(hostile, path, pickle_protocol=protocol)
        _assert_refused(path.read_bytes(), scene, _global(NAMES.get(evil, evil)))

        # Resuming from it refuses it too, before touching the agent.
        agent = SentimentAgent(None, None)  # no model is called: the file is refused first
        before = agent.state_dict()
        train, _ = make_loaders()
        trainer = make_trainer(tmp_path / "resume", max_epochs=1)
        with pytest.raises(pickle.UnpicklingError, match="refused to load the global"):
            trainer.fit(agent, train, ckpt_path=path)
        assert not scene.marker.exists()
        assert agent.state_dict()["system_prompt"].data == before["system_prompt"].data

        _assert_live(path.read_bytes(), scene)
        figures.add(SECTION, "hostile_trainer_checkpoints")


# -- pickle-level abuse that is not code --------------------------------------------------------


def test_persistent_ids_are_refused(tmp_path, figures):
    with pytest.raises(REFUSED, match="persistent"):
        afnio.load(io.BytesIO(archive(forge(PersId("0"), 2))))
    figures.add(SECTION, "malformed_pickle_files")


def test_unregistered_extension_codes_are_refused(figures):
    with pytest.raises(REFUSED, match="extension"):
        afnio.load(io.BytesIO(archive(forge(Ext(0x7FFF0000), 2))))
    figures.add(SECTION, "malformed_pickle_files")


def test_registered_extension_codes_go_through_the_allowlist(tmp_path, monkeypatch, extension):
    scene = _scene(tmp_path, "ext", monkeypatch)
    blob = archive(forge(call(Ext(EXTENSION_CODE), Str(scene.shell)), 2))
    _assert_refused(blob, scene, _global("posix.system"))
    _assert_live(blob, scene)


def test_extension_cache_cannot_bypass_the_allowlist(tmp_path, monkeypatch, extension):
    scene = _scene(tmp_path, "ext", monkeypatch)
    blob = archive(forge(call(Ext(EXTENSION_CODE), Str(scene.shell)), 2))
    # Something else in the process (a trusted file, another library) resolves the same code...
    assert pickle.loads(forge(Ext(EXTENSION_CODE), 2)) is os.system
    # ...and a default load of a hostile file must still refuse it.
    try:
        _assert_refused(blob, scene, _global("posix.system"))
    finally:
        scene.marker.unlink(missing_ok=True)


@pytest.mark.parametrize("cut", [0.25, 0.5, 0.9])
def test_truncated_pickles_are_refused(cut, figures):
    good = pickle.dumps({"v": Variable("text", role="r")}, protocol=4)
    with pytest.raises(REFUSED):
        afnio.load(io.BytesIO(archive(good[: int(len(good) * cut)])))
    figures.add(SECTION, "malformed_pickle_files")


@pytest.mark.parametrize(
    "state",
    [
        Dict(((Str("data"), Dict(((Str("a"), Const(1)),))),)),  # a dict as data
        Dict(((Str("data"), Tuple((Str("a"),))),)),  # a tuple as data
        Dict(((Str("data"), List((Str("a"), Const(1)))),)),  # strings mixed with numbers
        Dict(((Str("role"), Const(3)),)),
        Dict(((Str("grad"), List((Str("not a Variable"),))),)),
        Str("not a dict"),
    ],
    ids=["dict-data", "tuple-data", "mixed-data", "int-role", "str-grad", "str-state"],
)
def test_corrupt_variable_state_is_refused(state, figures):
    expr = call(
        Global("afnio.serialization", "_rebuild_variable"),
        Global("afnio._variable", "Variable"),
        state,
    )
    with pytest.raises(REFUSED):
        afnio.load(io.BytesIO(archive(forge(expr, 2))))
    figures.add(SECTION, "malformed_pickle_files")


@pytest.mark.parametrize("via", ["newobj", "rebuild"])
def test_variable_invariants_cannot_be_bypassed_with_build(via):
    if via == "newobj":
        obj: Expr = NewObj(Global("afnio._variable", "Variable"), ())
    else:
        obj = call(
            Global("afnio.serialization", "_rebuild_variable"),
            Global("afnio._variable", "Variable"),
            Dict(((Str("data"), Str("ok")),)),
        )
    expr = Build(obj, Dict(((Str("_data"), Dict(((Str("a"), Const(1)),))),)))
    with pytest.raises(REFUSED):
        loaded = afnio.load(io.BytesIO(archive(forge(expr, 2))))
        # What a refusal prevents: a Variable that breaks its own rules.
        assert isinstance(loaded.data, dict)


@pytest.mark.parametrize(
    "expr",
    [
        call(Global("builtins", "bytearray"), Const(64 * 2**20)),
        call(Global("builtins", "sorted"), call(Global("builtins", "range"), Const(8 * 10**6))),
    ],
    ids=["bytearray(64 MiB)", "sorted(range(8e6))"],
)
def test_allowed_builtins_cannot_amplify_a_tiny_file(expr):
    blob = archive(forge(expr, 2))
    assert len(blob) < 200
    with pytest.raises(REFUSED):
        afnio.load(io.BytesIO(blob))


def _laughs(depth: int, fanout: int) -> Expr:
    """A "billion laughs" list: each level holds the level below ``fanout`` times, by memo
    reference, so the pickle grows with ``depth * fanout`` and the expanded tree with
    ``fanout ** depth``."""
    expr: Expr = Put(0, Str("ha"))
    for level in range(1, depth + 1):
        expr = Put(level, List((expr, *[Get(level - 1)] * (fanout - 1))))
    return expr


def test_shared_references_in_plain_data_stay_shared():
    loaded = afnio.load(io.BytesIO(archive(forge(_laughs(6, 8), 2))))
    assert loaded[0] is loaded[1]  # a graph of 7 lists, not a tree of 300,000 items


def test_shared_references_cannot_blow_up_a_variable():
    """As Variable data the same list would be expanded into 262,144 items: refused instead."""
    expr = call(
        Global("afnio.serialization", "_rebuild_variable"),
        Global("afnio._variable", "Variable"),
        Dict(((Str("data"), _laughs(6, 8)),)),
    )
    blob = archive(forge(expr, 2))
    assert len(blob) < 300
    tracemalloc.start()
    try:
        try:
            afnio.load(io.BytesIO(blob))
        except REFUSED:
            pass
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 2**20


# -- zip-level abuse ----------------------------------------------------------------------------


def _raw_pickles(scene: Scene) -> list[bytes]:
    return [forge(_os_system(scene), p) for p in PROTOCOLS]


def test_raw_pickles_outside_an_archive_are_not_unpickled(tmp_path, monkeypatch, figures):
    scene = _scene(tmp_path, "raw", monkeypatch)
    for blob in _raw_pickles(scene):
        for weights_only in (True, False):
            with pytest.raises(RuntimeError, match="not an afnio file"):
                afnio.load(io.BytesIO(blob), weights_only=weights_only)
        assert not scene.marker.exists()
        figures.add(SECTION, "zip_abuse_files")


@pytest.mark.parametrize(
    "blob",
    [b"", b"hello", b"PK", b"PK\x03\x04" + b"\0" * 26, b"\x89PNG\r\n\x1a\n" + b"\0" * 64],
    ids=["empty", "text", "PK", "local-header-only", "png"],
)
def test_not_a_zip_is_refused(blob, tmp_path, figures):
    path = tmp_path / "file.hf"
    path.write_bytes(blob)
    with pytest.raises(RuntimeError, match="not an afnio file"):
        afnio.load(path)
    figures.add(SECTION, "zip_abuse_files")


@pytest.mark.parametrize("member", ["archive/data.pkl", "DATA.PKL", "data.pkl/", "other.txt"])
def test_zip_without_data_pkl_is_refused(member, figures):
    with pytest.raises(RuntimeError, match="Missing 'data.pkl'"):
        afnio.load(io.BytesIO(archive(b"x", member=member)))
    figures.add(SECTION, "zip_abuse_files")


def test_other_members_are_never_extracted(tmp_path, monkeypatch, figures):
    monkeypatch.chdir(tmp_path)
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("../../escaped.sh", "echo pwned")
        zf.writestr("/abs/escaped.sh", "echo pwned")
        zf.writestr("data.pkl", pickle.dumps({"ok": Variable("fine")}, protocol=2))
    before = sorted(str(p) for p in tmp_path.parent.rglob("*"))
    assert afnio.load(io.BytesIO(buffer.getvalue()))["ok"].data == "fine"
    assert sorted(str(p) for p in tmp_path.parent.rglob("*")) == before
    figures.add(SECTION, "zip_abuse_files")


def _good_archive() -> bytes:
    buffer = io.BytesIO()
    afnio.save({"v": Variable("hello world " * 20, role="text"), "n": [1.5, None]}, buffer)
    return buffer.getvalue()


def _patch(blob: bytes, header: bytes, offset: int, fmt: str, value: int) -> bytes:
    data = bytearray(blob)
    start = data.find(header)
    struct.pack_into(fmt, data, start + offset, value)
    return bytes(data)


def test_every_truncation_of_an_archive_is_refused(figures):
    blob = _good_archive()
    for size in range(len(blob)):
        with pytest.raises(RuntimeError):
            afnio.load(io.BytesIO(blob[:size]))
    figures.add(SECTION, "zip_abuse_files", len(blob))


def test_encrypted_member_is_refused(figures):
    blob = _good_archive()
    blob = _patch(blob, b"PK\x01\x02", 8, "<H", 1)
    blob = _patch(blob, b"PK\x03\x04", 6, "<H", 1)
    with pytest.raises(RuntimeError, match="encrypted"):
        afnio.load(io.BytesIO(blob))
    figures.add(SECTION, "zip_abuse_files")


def test_a_lying_declared_size_changes_nothing(figures):
    blob = _good_archive()
    blob = _patch(blob, b"PK\x01\x02", 24, "<I", 2**32 - 2)
    blob = _patch(blob, b"PK\x03\x04", 22, "<I", 2**32 - 2)
    tracemalloc.start()
    try:
        try:
            loaded = afnio.load(io.BytesIO(blob))
        except RuntimeError:
            loaded = None
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert loaded is None or loaded["v"].data == "hello world " * 20
    assert peak < 16 * 2**20
    figures.add(SECTION, "zip_abuse_files")


def _flipped(blob: bytes) -> list[bytes]:
    return [
        blob[:i] + bytes([blob[i] ^ mask]) + blob[i + 1 :]
        for i in range(len(blob))
        for mask in (0x01, 0x80)
    ]


def test_a_corrupted_byte_never_yields_a_different_object(figures):
    blob = _good_archive()
    original = afnio.load(io.BytesIO(blob))
    for corrupted in _flipped(blob):
        try:
            loaded = afnio.load(io.BytesIO(corrupted))
        except Exception:
            continue
        assert loaded["v"].data == original["v"].data and loaded["n"] == original["n"]
    figures.add(SECTION, "corrupted_archives", len(_flipped(blob)))


def test_a_corrupted_archive_always_raises_a_clear_error():
    escaped: dict[str, int] = {}
    for corrupted in _flipped(_good_archive()):
        try:
            afnio.load(io.BytesIO(corrupted))
        except REFUSED:
            pass
        except Exception as exc:
            escaped[type(exc).__name__] = escaped.get(type(exc).__name__, 0) + 1
    assert escaped == {}


def test_unknown_compression_method_is_refused(figures):
    blob = _good_archive()
    blob = _patch(blob, b"PK\x01\x02", 10, "<H", 99)
    blob = _patch(blob, b"PK\x03\x04", 8, "<H", 99)
    with pytest.raises(RuntimeError, match="compression method"):  # NotImplementedError is one
        afnio.load(io.BytesIO(blob))
    figures.add(SECTION, "zip_abuse_files")


def _zip_bomb(inflated: int) -> bytes:
    """A valid afnio file whose data.pkl (a pickle of ``inflated`` zero bytes) inflates about
    1000 times."""
    head = b"\x80\x04\x8e" + struct.pack("<Q", inflated)
    chunk = b"\0" * 2**20
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    first = compressor.compress(head + chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    # After a full flush the dictionary is reset: one compressed chunk can be repeated as is.
    block = compressor.compress(chunk) + compressor.flush(zlib.Z_FULL_FLUSH)
    rest = inflated // 2**20 - 1
    body = first + block * rest + compressor.compress(b".") + compressor.flush()
    crc = zlib.crc32(head)
    for _ in range(rest + 1):
        crc = zlib.crc32(chunk, crc)
    crc = zlib.crc32(b".", crc)
    size = len(head) + inflated + 1
    name = b"data.pkl"
    local = struct.pack("<4sHHHHHIIIHH", b"PK\x03\x04", 20, 0, 8, 0, 0, crc, len(body), size, 8, 0)
    central = struct.pack(
        "<4sHHHHHHIIIHHHHHII", b"PK\x01\x02", 20, 20, 0, 8, 0, 0, crc, len(body), size, 8,
        0, 0, 0, 0, 0, 0,
    )  # fmt: skip
    end = struct.pack(
        "<4sHHHHIIH", b"PK\x05\x06", 0, 0, 1, 1, len(central) + 8, len(local) + 8 + len(body), 0
    )
    return local + name + body + central + name + end


@pytest.mark.slow
def test_zip_bomb_is_refused_before_inflating():
    blob = _zip_bomb(64 * 2**20)
    assert len(blob) < 128 * 2**10
    tracemalloc.start()
    try:
        with pytest.raises(RuntimeError):
            afnio.load(io.BytesIO(blob))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 16 * 2**20


def test_zip_bomb_fixture_is_a_valid_afnio_file():
    """The bomb above is refused for its size, not because it is broken."""
    blob = _zip_bomb(2 * 2**20)
    loaded = afnio.load(io.BytesIO(blob))
    assert loaded == b"\0" * (2 * 2**20)


# -- round trips lose nothing -------------------------------------------------------------------

TEXT = st.text(max_size=20)
NUMBERS = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70), st.floats(allow_nan=True), st.booleans()
)


def _nested(leaves: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    return st.recursive(
        st.one_of(st.none(), leaves),
        lambda inner: st.lists(inner, max_size=4),
        max_leaves=12,
    )


DATA = st.one_of(_nested(TEXT), _nested(NUMBERS))


def _same(a: Any, b: Any) -> bool:
    """Equality that also checks types, and treats NaN as equal to NaN (and -0.0 != 0.0)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, float):
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        return a == b and math.copysign(1, a) == math.copysign(1, b)
    return a == b


def _same_variable(a: Variable, b: Variable) -> bool:
    return (
        type(a) is type(b)
        and _same(a.data, b.data)
        and a.role == b.role
        and a.requires_grad == b.requires_grad
        and a._retain_grad == b._retain_grad
        and a.output_nr == b.output_nr
        and len(a._grads()) == len(b._grads())
        and all(_same_variable(x, y) for x, y in zip(a._grads(), b._grads()))
        and b.is_leaf
        and b.grad_fn is None
    )


@st.composite
def variables(draw: st.DrawFn, depth: int = 1) -> Variable:
    cls = draw(st.sampled_from([Variable, Parameter]))
    role = draw(st.one_of(TEXT, st.none()) if cls is Parameter else TEXT)
    v = cls(draw(DATA), role=role, requires_grad=draw(st.booleans()))
    if depth:
        for grad in draw(st.lists(variables(depth=depth - 1), max_size=3)):
            v._grads().append(grad)
    v._retain_grad = draw(st.booleans())
    v._output_nr = draw(st.integers(min_value=0, max_value=5))
    return v


def _round_trip(obj: Any, protocol: int) -> Any:
    buffer = io.BytesIO()
    afnio.save(obj, buffer, pickle_protocol=protocol)
    buffer.seek(0)
    return afnio.load(buffer)


ROUND_TRIPS = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,  # the same examples on every run (and no example database)
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@ROUND_TRIPS
@given(variables(), st.sampled_from(PROTOCOLS))
def test_variables_round_trip(variable, protocol):
    assert _same_variable(variable, _round_trip(variable, protocol))
    _count("round_trips_variables")


@ROUND_TRIPS
@given(st.lists(variables(depth=0), min_size=1, max_size=4), st.sampled_from(PROTOCOLS))
def test_shared_variables_stay_shared(items, protocol):
    # The same object twice in a file comes back as one object, twice.
    loaded = _round_trip({"a": items, "b": items[0]}, protocol)
    assert loaded["a"][0] is loaded["b"]
    assert all(_same_variable(x, y) for x, y in zip(items, loaded["a"]))
    _count("round_trips_variables")


_IDENT = st.from_regex(r"[a-z][a-z0-9_]{0,8}", fullmatch=True)
_JSON = st.recursive(
    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False), TEXT),
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(TEXT, inner, max_size=3)),
    max_leaves=8,
)


@st.composite
def modules(draw: st.DrawFn) -> cog.Module:
    module = cog.Module()
    names = draw(st.lists(_IDENT, min_size=1, max_size=8, unique=True))
    for name in names:
        kind = draw(st.sampled_from(["param", "buffer", "chat", "config", "function", "child"]))
        if hasattr(module, name):
            continue
        if kind == "param":
            setattr(module, name, Parameter(draw(DATA), role=draw(TEXT)))
        elif kind == "buffer":
            module.register_buffer(name, Variable(draw(DATA), role=draw(TEXT)))
        elif kind == "chat":
            size = draw(st.integers(1, 3))
            content = [Variable(draw(TEXT), role=draw(TEXT)) for _ in range(size)]
            role = draw(st.sampled_from(["system", "user"]))
            setattr(module, name, [{"role": role, "content": content}])
        elif kind == "config":
            setattr(module, name, draw(st.dictionaries(TEXT, _JSON, max_size=3)))
        elif kind == "function":
            setattr(module, name, draw(st.sampled_from([sum, len, min, max])))
        else:
            child = cog.Module()
            child.inner = Parameter(draw(DATA), role=draw(TEXT))
            setattr(module, name, child)
    return module


def _scrambled(module: cog.Module) -> cog.Module:
    """A module of the same structure, every value changed (shapes kept)."""
    other = copy.deepcopy(module)
    for variable in [*other.parameters(), *other.buffers()]:
        variable.data = _scramble(variable.data)
        variable.role = "changed"
    for chat in other.chats():
        for message in chat:
            for variable in message["content"]:
                variable.data, variable.role = "changed", "changed"
    for name, _ in list(other.named_completion_configs(recurse=False)):
        setattr(other, name, {"changed": True})
    return other


def _scramble(data: Any) -> Any:
    if isinstance(data, list):
        return [_scramble(x) for x in data]
    return None if data is None else ("zz" if isinstance(data, str) else 0)


def _same_state(a: Any, b: Any) -> bool:
    if isinstance(a, Variable):
        return isinstance(b, Variable) and _same(a.data, b.data) and a.role == b.role
    if isinstance(a, dict):
        return (
            isinstance(b, dict) and list(a) == list(b) and all(_same_state(a[k], b[k]) for k in a)
        )
    if isinstance(a, (list, tuple)):
        return (
            type(a) is type(b) and len(a) == len(b) and all(_same_state(x, y) for x, y in zip(a, b))
        )
    if isinstance(a, float) and isinstance(b, float):
        return _same(a, b)
    return a == b


@ROUND_TRIPS
@given(modules(), st.sampled_from(PROTOCOLS))
def test_module_state_dicts_round_trip(module, protocol):
    saved = module.state_dict()
    loaded = _round_trip(saved, protocol)
    assert _same_state(saved, loaded)
    assert loaded._metadata == saved._metadata
    target = _scrambled(module)
    target.load_state_dict(loaded)
    assert _same_state(module.state_dict(), target.state_dict())
    assert [p.requires_grad for p in target.parameters()] == [
        p.requires_grad for p in module.parameters()
    ]
    _count("round_trips_module_state_dicts")


@st.composite
def optimizers(draw: st.DrawFn) -> TGD:
    params = [Parameter(draw(TEXT), role=draw(TEXT)) for _ in range(draw(st.integers(1, 3)))]
    momentum = draw(st.integers(0, 3))
    constraints = draw(st.lists(TEXT, max_size=2))
    optimizer = TGD(
        params, model_client=None, momentum=momentum, constraints=constraints, model="m"
    )
    for param in params:
        buffer = []
        for _ in range(draw(st.integers(0, momentum))):
            snapshot = Variable(draw(TEXT), role=param.role)
            grads = [Variable(draw(TEXT), role=f"feedback to {param.role}") for _ in range(2)]
            buffer.append((snapshot, grads))
        if buffer:
            optimizer.state[param]["momentum_buffer"] = buffer
    return optimizer


@ROUND_TRIPS
@given(optimizers(), st.sampled_from(PROTOCOLS))
def test_optimizer_state_dicts_round_trip(optimizer, protocol):
    saved = optimizer.state_dict()
    loaded = _round_trip(saved, protocol)
    assert _same_state(saved, loaded)
    fresh_params = [Parameter("x", role="r") for _ in optimizer.param_groups[0]["params"]]
    fresh = TGD(fresh_params, model_client=None, model="other")
    fresh.load_state_dict(loaded)
    assert _same_state(fresh.state_dict(), saved)
    for old, new in zip(optimizer.param_groups[0]["params"], fresh_params):
        assert _same_state(optimizer.state.get(old, {}), fresh.state.get(new, {}))
    _count("round_trips_optimizer_state_dicts")


@st.composite
def trainer_states(draw: st.DrawFn) -> dict[str, Any]:
    metrics = st.dictionaries(_IDENT, st.floats(allow_nan=False), max_size=3)
    epochs = draw(st.lists(st.fixed_dictionaries({"train": metrics, "val": metrics}), max_size=3))
    return {
        "epoch": draw(st.integers(1, 5)),
        "batches_done": draw(st.integers(0, 9)),
        "train_means": {
            "sums": draw(metrics),
            "counts": draw(st.dictionaries(_IDENT, st.integers(0, 9))),
        },
        "epoch_cost": draw(st.floats(0, 10)),
        "batches": draw(st.integers(0, 9)),
        "skipped_batches": draw(st.integers(0, 9)),
        "total_cost": draw(st.floats(0, 100)),
        "global_step": draw(st.integers(0, 99)),
        "history": [{"epoch": i + 1, **e} for i, e in enumerate(epochs)],
        "random_state": random.Random(draw(st.integers(0, 2**32))).getstate(),
    }


@settings(ROUND_TRIPS, max_examples=60)  # each one fsyncs a file
@given(modules(), optimizers(), trainer_states())
def test_trainer_checkpoints_round_trip(module, optimizer, trainer_state):
    """What the Trainer writes (atomically, through afnio.save) it reads back whole, and the
    agent and optimizer it restores are the saved ones."""
    payload = {
        "version": _checkpoint.CHECKPOINT_VERSION,
        "epoch": trainer_state["epoch"],
        "batch": None,
        "agent_state_dict": module.state_dict(),
        "optimizer_state_dict": optimizer.state_dict(),
        "trainer_state": trainer_state,
    }
    with tempfile.TemporaryDirectory() as root:
        path = _checkpoint.epoch_checkpoint_path(root, trainer_state["epoch"])
        _checkpoint.write_checkpoint(root, path, payload)
        assert _checkpoint.find_last_checkpoint(root) == path
        loaded = _checkpoint.read_checkpoint(path)
    assert _same_state(payload, loaded)
    agent = _scrambled(module)
    _checkpoint.restore_agent(agent, loaded["agent_state_dict"])
    assert _same_state(module.state_dict(), agent.state_dict())
    params = [Parameter("x", role="r") for _ in optimizer.param_groups[0]["params"]]
    fresh = TGD(params, model_client=None, model="other")
    _checkpoint.restore_optimizers([fresh], loaded["optimizer_state_dict"])
    assert _same_state(fresh.state_dict(), optimizer.state_dict())
    _count("round_trips_checkpoints")
