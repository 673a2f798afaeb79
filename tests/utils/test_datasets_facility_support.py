import hashlib
import json
import os
import random
from pathlib import Path

import pytest

from afnio import Variable
from afnio.utils.data import DataLoader
from afnio.utils.datasets import FacilitySupport

URGENCY = ["low", "medium", "high"]
SENTIMENT = ["negative", "neutral", "positive"]


def _records(n):
    records = []
    for i in range(n):
        answer = {
            "urgency": URGENCY[i % 3],
            "sentiment": SENTIMENT[(i // 3) % 3],
            "categories": {"routine_maintenance_requests": i % 2 == 0, "general_inquiries": True},
        }
        records.append({"fields": {"input": f"message {i}"}, "answer": json.dumps(answer)})
    return records


def _encode(records) -> bytes:
    return json.dumps(records).encode()


@pytest.fixture
def offline(monkeypatch, refused_url):
    """No test reaches the internet: the mirror is a local port where nothing listens."""
    monkeypatch.setattr(FacilitySupport, "mirrors", [refused_url + "/"])
    return refused_url


def _place(root: Path, body: bytes, monkeypatch) -> Path:
    raw = root / "FacilitySupport" / "raw"
    raw.mkdir(parents=True, exist_ok=True)
    (raw / "dataset.json").write_bytes(body)
    monkeypatch.setattr(
        FacilitySupport, "resources", [("dataset.json", hashlib.md5(body).hexdigest())]
    )
    return raw / "dataset.json"


@pytest.fixture
def root(tmp_path, monkeypatch, offline):
    _place(tmp_path, _encode(_records(200)), monkeypatch)
    return tmp_path


def test_splits_have_the_documented_sizes_and_partition_the_data(root):
    splits = {s: FacilitySupport(s, root, progress=False) for s in ("train", "val", "test")}
    assert [len(d) for d in splits.values()] == [66, 66, 68]
    messages = [d[i][0].data for d in splits.values() for i in range(len(d))]
    assert sorted(messages) == sorted(f"message {i}" for i in range(200))


def test_split_is_a_fixed_shuffle_independent_of_the_global_rng(root):
    random.seed(0)
    state = random.getstate()
    first = [FacilitySupport("val", root, progress=False)[i][0].data for i in range(66)]
    assert random.getstate() == state
    random.seed(123)
    again = [FacilitySupport("val", root, progress=False)[i][0].data for i in range(66)]
    assert first == again
    expected = [f"message {i}" for i in range(200)]
    random.Random(0).shuffle(expected)
    assert first == expected[66:132]


def test_items_are_fresh_variables_with_roles(root):
    data = FacilitySupport("train", root, progress=False)
    message, (urgency, sentiment, categories) = data[0]
    for v in (message, urgency, sentiment, categories):
        assert isinstance(v, Variable) and not v.requires_grad
    assert message.role == "input email or message"
    assert (urgency.role, sentiment.role, categories.role) == (
        "output urgency",
        "output sentiment",
        "output categories",
    )
    i = int(message.data.split()[1])
    assert urgency.data == URGENCY[i % 3]
    assert sentiment.data == SENTIMENT[(i // 3) % 3]
    assert json.loads(categories.data) == {
        "routine_maintenance_requests": i % 2 == 0,
        "general_inquiries": True,
    }
    assert data[0][0] is not message


def test_indexing(root):
    data = FacilitySupport("test", root, progress=False)
    assert data[-1][0].data == data[67][0].data
    with pytest.raises(IndexError, match=r"^Index out of range\.$"):
        data[68]
    with pytest.raises(IndexError, match=r"^Index out of range\.$"):
        data[-69]
    with pytest.raises(TypeError, match="indices must be integers"):
        data["0"]


def test_repr(root):
    data = FacilitySupport("val", root, progress=False)
    assert data.extra_repr() == "Split: Validation"
    assert repr(data) == (
        "Dataset FacilitySupport\n"
        "    Number of datapoints: 66\n"
        f"    Root location: {root}\n"
        "    Split: Validation"
    )
    assert data.raw_folder == os.path.join(root, "FacilitySupport", "raw")


def test_batches_through_a_dataloader(root):
    loader = DataLoader(FacilitySupport("train", root, progress=False), batch_size=4)
    messages, (urgency, _, categories) = next(iter(loader))
    assert len(messages.data) == 4 and messages.role == "input email or message"
    assert all(u in URGENCY for u in urgency.data)
    assert categories.role == "output categories"
    assert len(loader) == 17


def test_uses_the_verified_local_file(root, capsys):
    FacilitySupport("train", root, progress=False)
    path = os.path.join(root, "FacilitySupport", "raw", "dataset.json")
    assert capsys.readouterr().out == f"Using downloaded and verified file: {path}\n"


def test_invalid_split(root):
    with pytest.raises(ValueError) as info:
        FacilitySupport("validation", root)
    assert str(info.value) == (
        "FacilitySupport Dataset: expected split in ['train', 'val', 'test'], "
        "but got split='validation'"
    )


def test_root_is_required(offline):
    with pytest.raises(TypeError, match="`root` is required"):
        FacilitySupport("train", None)
    with pytest.raises(TypeError, match="`root` must be a path"):
        FacilitySupport("train", 3)


def test_downloads_from_the_mirror(file_server, tmp_path, monkeypatch, capsys):
    body = _encode(_records(10))
    file_server.serve("/mirror/dataset.json", body)
    monkeypatch.setattr(FacilitySupport, "mirrors", [file_server.url + "/mirror/"])
    monkeypatch.setattr(
        FacilitySupport, "resources", [("dataset.json", hashlib.md5(body).hexdigest())]
    )
    data = FacilitySupport("test", str(tmp_path), progress=False)
    assert len(data) == 10 - 2 * int(10 * 0.33)
    raw = tmp_path / "FacilitySupport" / "raw"
    assert os.listdir(raw) == ["dataset.json"]
    assert (raw / "dataset.json").read_bytes() == body
    assert "Downloading" in capsys.readouterr().out


def test_tries_the_next_mirror(file_server, tmp_path, monkeypatch, refused_url):
    body = _encode(_records(10))
    file_server.serve("/dataset.json", body)
    monkeypatch.setattr(FacilitySupport, "mirrors", [refused_url + "/", file_server.url + "/"])
    monkeypatch.setattr(
        FacilitySupport, "resources", [("dataset.json", hashlib.md5(body).hexdigest())]
    )
    assert len(FacilitySupport("train", tmp_path, progress=False)) == 3


def test_offline_error_says_where_to_put_the_file(tmp_path, offline):
    with pytest.raises(RuntimeError) as info:
        FacilitySupport("train", tmp_path, progress=False)
    message = str(info.value)
    assert message.startswith("Error downloading dataset.json for the FacilitySupport dataset")
    assert offline + "/dataset.json" in message
    assert os.path.join(tmp_path, "FacilitySupport", "raw", "dataset.json") in message
    assert "530dc66b1b07c9b15b19f08891e9bfa0" in message
    assert os.listdir(tmp_path / "FacilitySupport" / "raw") == []


def test_corrupted_download(file_server, tmp_path, monkeypatch):
    file_server.serve("/dataset.json", b"[]")
    monkeypatch.setattr(FacilitySupport, "mirrors", [file_server.url + "/"])
    with pytest.raises(RuntimeError, match="File not found or corrupted") as info:
        FacilitySupport("train", tmp_path, progress=False)
    assert os.path.join(tmp_path, "FacilitySupport", "raw", "dataset.json") in str(info.value)
    assert os.listdir(tmp_path / "FacilitySupport" / "raw") == []


def test_malformed_records_raise_a_clear_error(tmp_path, monkeypatch, offline):
    records = _records(3)
    records[1]["answer"] = "not json"
    _place(tmp_path, _encode(records), monkeypatch)
    with pytest.raises(RuntimeError, match=r"^Record 1 of .*dataset.json is not in the expected"):
        FacilitySupport("train", tmp_path, progress=False)
    _place(tmp_path, b'{"a": 1}', monkeypatch)
    with pytest.raises(RuntimeError, match="should hold a JSON list"):
        FacilitySupport("train", tmp_path, progress=False)
