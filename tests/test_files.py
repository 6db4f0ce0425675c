"""Atomic writes: the target holds the old content or the new, never a part; no temp file stays."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from features.files import atomic_open, atomic_path, atomic_write


def test_atomic_write_creates_folders_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "a" / "b" / "x.txt"
    atomic_write(target, "old")
    atomic_write(target, b"new")
    assert target.read_text() == "new"
    assert os.listdir(target.parent) == ["x.txt"]
    assert target.stat().st_mode & 0o777 == 0o644


def test_failure_inside_the_block_keeps_the_old_file_and_removes_the_temp(tmp_path: Path) -> None:
    target = tmp_path / "scores.csv"
    target.write_text("complete old table")
    with pytest.raises(KeyboardInterrupt), atomic_open(target, "w") as f:
        f.write("half of a new ta")
        raise KeyboardInterrupt
    assert target.read_text() == "complete old table"
    assert os.listdir(tmp_path) == ["scores.csv"]


def test_atomic_path_keeps_the_suffix_a_writer_needs(tmp_path: Path) -> None:
    target = tmp_path / "model.keras"
    with atomic_path(target, suffix=".keras") as tmp:
        assert tmp.parent == tmp_path and tmp.suffix == ".keras" and tmp != target
        tmp.write_bytes(b"model")
        assert not target.exists()
    assert target.read_bytes() == b"model"
    assert os.listdir(tmp_path) == ["model.keras"]
