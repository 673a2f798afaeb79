"""``write_atomically``: a file is replaced whole or not at all."""

from __future__ import annotations

import os

import pytest

from afnio._files import write_atomically


def test_a_failed_write_leaves_the_old_file_and_no_temporary_file(tmp_path):
    target = tmp_path / "state.json"
    target.write_text("old", encoding="utf-8")

    def half_then_fail(handle):
        handle.write("new, but only ha")
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        write_atomically(target, half_then_fail)
    assert target.read_text(encoding="utf-8") == "old"
    assert os.listdir(tmp_path) == ["state.json"]


def test_binary_writes_and_the_temporary_name_callers_clean_up_by(tmp_path, monkeypatch):
    seen: list[str] = []
    real_replace = os.replace

    def spy(src, dst):
        seen.append(os.path.basename(src))
        real_replace(src, dst)

    monkeypatch.setattr(os, "replace", spy)
    write_atomically(
        tmp_path / "x.bin",
        lambda h: h.write(b"\x00\x01"),
        binary=True,
        prefix=".afnio-",
        suffix=".tmp",
    )
    assert (tmp_path / "x.bin").read_bytes() == b"\x00\x01"
    assert seen[0].startswith(".afnio-") and seen[0].endswith(".tmp")
    write_atomically(tmp_path / "y.txt", lambda h: h.write("é"))
    assert (tmp_path / "y.txt").read_text(encoding="utf-8") == "é"
    assert seen[1].startswith(".y.txt.")
