import io
import os
import pickle
import zipfile
from collections import OrderedDict

import pytest

import afnio
from afnio import Variable
from afnio.cognitive import Parameter
from afnio.serialization import add_safe_globals, clear_safe_globals, get_safe_globals


def _archive(payload: bytes) -> io.BytesIO:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as zf:
        zf.writestr("data.pkl", payload)
    buffer.seek(0)
    return buffer


def test_round_trip_path(tmp_path):
    p = Parameter(["a", None], role="prompts")
    p.append_grad(Variable("feedback", role="feedback to prompts"))
    obj = {"v": Variable("hello", role="r"), "n": 3, "p": p, "od": OrderedDict(x=1), "s": {1, 2}}
    path = tmp_path / "state.hf"
    afnio.save(obj, path)
    loaded = afnio.load(path)
    assert loaded["v"].data == "hello" and loaded["v"].role == "r"
    assert isinstance(loaded["p"], Parameter) and loaded["p"].requires_grad
    assert loaded["p"].data == ["a", None] and loaded["p"].grad[0].data == "feedback"
    assert loaded["od"] == OrderedDict(x=1) and loaded["s"] == {1, 2} and loaded["n"] == 3


def test_round_trip_file_object_and_str_path(tmp_path):
    buffer = io.BytesIO()
    afnio.save([Variable(1.5)], buffer)
    buffer.seek(0)
    assert afnio.load(buffer)[0].data == 1.5
    path = str(tmp_path / "ünïcode.hf")
    afnio.save(b"bytes", path)
    assert afnio.load(path) == b"bytes"


def test_format_is_a_zip_with_data_pkl(tmp_path):
    path = tmp_path / "x.hf"
    afnio.save({"a": 1}, path)
    with zipfile.ZipFile(path) as zf:
        assert zf.namelist() == ["data.pkl"]
        assert pickle.loads(zf.read("data.pkl")) == {"a": 1}


def test_non_leaf_is_saved_as_a_leaf(tmp_path):
    y = Variable("a", requires_grad=True) + Variable("b")
    path = tmp_path / "y.hf"
    afnio.save(y, path)
    loaded = afnio.load(path)
    assert loaded.data == "ab" and loaded.requires_grad and loaded.is_leaf


def test_save_bad_target():
    with pytest.raises(AttributeError, match="file-like object with a 'write' attribute"):
        afnio.save({}, 3)


def test_save_is_atomic(tmp_path):
    path = tmp_path / "ckpt.hf"
    afnio.save({"version": 1}, path)

    class Unpicklable:
        def __reduce__(self):
            raise RuntimeError("cannot pickle this")

    with pytest.raises(RuntimeError, match="cannot pickle"):
        afnio.save({"version": 2, "bad": Unpicklable()}, path)
    assert afnio.load(path) == {"version": 1}
    assert os.listdir(tmp_path) == ["ckpt.hf"]  # no temp file left behind


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError):
        afnio.load(tmp_path / "missing.hf")
    not_zip = tmp_path / "plain.txt"
    not_zip.write_text("hello")
    with pytest.raises(RuntimeError, match="not an afnio file"):
        afnio.load(not_zip)
    other = tmp_path / "other.zip"
    with zipfile.ZipFile(other, "w") as zf:
        zf.writestr("something.txt", "x")
    with pytest.raises(RuntimeError, match="Missing 'data.pkl' in archive"):
        afnio.load(other)
    with pytest.raises(RuntimeError, match="corrupt"):
        afnio.load(_archive(pickle.dumps({"a": 1})[:-5]))
    with pytest.raises(AttributeError, match="'read'"):
        afnio.load(3)


class Exploit:
    def __init__(self, target, *args):
        self.target, self.args = target, args

    def __reduce__(self):
        return (self.target, self.args)


@pytest.mark.parametrize(
    "payload",
    [
        Exploit(os.system, "echo pwned"),
        Exploit(eval, "1+1"),
        Exploit(exec, "import os"),
        Exploit(__import__, "subprocess"),
        {"nested": [Variable("ok"), Exploit(os.getcwd)]},
    ],
)
def test_load_refuses_code_by_default(payload, tmp_path):
    path = tmp_path / "evil.hf"
    afnio.save(payload, path)
    with pytest.raises(pickle.UnpicklingError, match="refused to load the global") as info:
        afnio.load(path)
    assert "weights_only=False" in str(info.value)


def test_weights_only_false_trusts_the_file(tmp_path):
    path = tmp_path / "trusted.hf"
    afnio.save(Exploit(os.getcwd), path)
    assert afnio.load(path, weights_only=False) == os.getcwd()


def module_level_metric(p, t):
    return int(p == t)


def test_safe_globals(tmp_path):
    path = tmp_path / "fn.hf"
    afnio.save({"fn": module_level_metric, "builtin": sum}, path)
    with pytest.raises(pickle.UnpicklingError, match="module_level_metric"):
        afnio.load(path)
    try:
        add_safe_globals([module_level_metric])
        assert get_safe_globals() == [module_level_metric]
        loaded = afnio.load(path)
        assert loaded["fn"] is module_level_metric and loaded["builtin"] is sum
    finally:
        clear_safe_globals()
    assert get_safe_globals() == []
    with pytest.raises(TypeError, match="no module-level name"):
        add_safe_globals([3])
