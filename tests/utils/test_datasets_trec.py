import hashlib
import os
import random
from collections import Counter

import pytest

from afnio.utils.datasets import TREC

TRAIN_LINES = (
    [f"HUM:ind Who wrote book {i} ?" for i in range(10)]
    + [f"HUM:gr What group made record {i} ?" for i in range(4)]
    + [f"LOC:city What city is number {i} ?" for i in range(6)]
    + [f"NUM:date When did event {i} happen ?" for i in range(8)]
    + ["HUM:ind Who wrote book 0 ?", "LOC:city What city is number 1 ?"]  # duplicates
)
TEST_LINES = ["NUM:count How many legs does a spider have ?"] * 2 + ["LOC:city Where is Rome ?"]


def _write(path, lines, extra=b""):
    body = "\n".join(lines).encode() + b"\n" + extra
    path.write_bytes(body)
    return hashlib.md5(body).hexdigest()


@pytest.fixture
def root(tmp_path, monkeypatch, refused_url):
    raw = tmp_path / "TREC" / "raw"
    raw.mkdir(parents=True)
    train_md5 = _write(raw / "train_5500.label", TRAIN_LINES, b"DESC:def What is caf\xf0e ?\n\n")
    test_md5 = _write(raw / "TREC_10.label", TEST_LINES)
    monkeypatch.setattr(
        TREC, "resources", [("train_5500.label", train_md5), ("TREC_10.label", test_md5)]
    )
    monkeypatch.setattr(TREC, "mirrors", [refused_url + "/"])
    return tmp_path


def _make(root, task="coarse", split="train", validation_split=0.0):
    return TREC(task, split, validation_split, root=root, progress=False)


def test_samples_are_plain_strings(root):
    data = _make(root, split="test")
    assert data[2] == ("Where is Rome ?", ("LOC:city", "LOC"))
    assert all(isinstance(s, str) for q, labels in data for s in (q, *labels))


def test_test_split_keeps_every_line(root):
    assert len(_make(root, split="test")) == 3


def test_train_is_deduplicated_and_the_stray_byte_is_a_space(root):
    data = _make(root, task="fine")
    assert len(data) == 10 + 4 + 6 + 8 + 1
    assert ("What is caf e ?", ("DESC:def", "DESC")) in list(data)
    assert len(_make(root, split="val")) == 0


def test_stratified_split_counts(root, monkeypatch):
    raw = root / "TREC" / "raw"
    md5 = _write(raw / "train_5500.label", TRAIN_LINES)
    monkeypatch.setattr(TREC, "resources", [("train_5500.label", md5), TREC.resources[1]])
    train = _make(root, validation_split=0.25)
    val = _make(root, split="val", validation_split=0.25)
    assert Counter(c for _, (_, c) in train) == {"HUM": 10, "LOC": 4, "NUM": 6}
    assert Counter(c for _, (_, c) in val) == {"HUM": 4, "LOC": 2, "NUM": 2}
    assert not set(train) & set(val)
    assert len(set(train) | set(val)) == 28
    fine_train = _make(root, task="fine", validation_split=0.25)
    assert Counter(f for _, (f, _) in fine_train) == {
        "HUM:ind": 7,
        "HUM:gr": 3,
        "LOC:city": 4,
        "NUM:date": 6,
    }


def test_split_is_deterministic_and_leaves_the_global_rng_alone(root):
    random.seed(5)
    state = random.getstate()
    first = list(_make(root, task="fine"))
    assert random.getstate() == state
    random.seed(6)
    assert list(_make(root, task="fine")) == first


def test_a_label_left_without_training_questions(root):
    with pytest.raises(ValueError, match=r"no training question for the coarse label 'DESC'"):
        _make(root, validation_split=0.5)
    with pytest.raises(ValueError, match="no training question"):
        _make(root, split="val", validation_split=1.0)


def test_a_label_left_without_validation_questions(root):
    with pytest.raises(ValueError, match="no validation question"):
        _make(root, validation_split=1e-17)


def test_only_the_needed_file_is_required(root):
    os.remove(root / "TREC" / "raw" / "train_5500.label")
    assert len(_make(root, split="test")) == 3
    with pytest.raises(RuntimeError, match=r"Error downloading train_5500\.label for the TREC"):
        _make(root, split="train")


def test_downloads_from_the_mirror(file_server, tmp_path, monkeypatch):
    body = b"ABBR:exp What does NASA stand for ?\n"
    file_server.serve("/QC/TREC_10.label", body)
    monkeypatch.setattr(TREC, "mirrors", [file_server.url + "/QC/"])
    monkeypatch.setattr(TREC, "resources", [("TREC_10.label", hashlib.md5(body).hexdigest())])
    data = TREC("coarse", "test", root=tmp_path, progress=False)
    assert list(data) == [("What does NASA stand for ?", ("ABBR:exp", "ABBR"))]


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"task": "medium"},
            "TREC Dataset: expected task in ['coarse', 'fine'], but got task='medium'",
        ),
        (
            {"split": "dev"},
            "TREC Dataset: expected split in ['train', 'val', 'test'], but got split='dev'",
        ),
        (
            {"validation_split": 1.5},
            "TREC Dataset: expected validation_split in [0, 1], but got validation_split=1.5",
        ),
        (
            {"validation_split": -0.1},
            "TREC Dataset: expected validation_split in [0, 1], but got validation_split=-0.1",
        ),
        (
            {"validation_split": True},
            "TREC Dataset: expected validation_split in [0, 1], but got validation_split=True",
        ),
    ],
)
def test_invalid_arguments(root, kwargs, message):
    args = {"task": "coarse", "split": "train", "validation_split": 0.0, **kwargs}
    with pytest.raises(ValueError) as info:
        TREC(**args, root=root)
    assert str(info.value) == message


def test_root_is_required():
    with pytest.raises(TypeError, match="TREC Dataset: `root` is required"):
        TREC("coarse", "train")


def test_indexing_and_repr(root):
    data = _make(root, task="fine", split="test")
    assert data[-1] == data[2]
    with pytest.raises(IndexError, match=r"^Index out of range\.$"):
        data[3]
    assert repr(data) == (
        "Dataset TREC\n"
        "    Number of datapoints: 3\n"
        f"    Root location: {root}\n"
        "    Split: Test\n"
        "    Task: Classify Fine Labels"
    )
    assert _make(root).extra_repr() == "Split: Train\nTask: Classify Coarse Labels"
