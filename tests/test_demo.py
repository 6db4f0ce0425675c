"""The synthetic demo set: deterministic, marked synthetic, paired by subject, texture-learnable."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks.datasets import demo
from features.images import read_image
from features.records import ATTACK, BONAFIDE, Dataset, DatasetError, file_sha256


@pytest.fixture(scope="module")
def full() -> Dataset:
    return demo.synthetic_demo()


def _hashes(ds: Dataset) -> dict[str, str]:
    return {r.id: file_sha256(r.path) for r in ds.records}


def test_same_seed_same_files_other_seed_other_files(full, tmp_path: Path) -> None:
    # Generated again elsewhere, the first 8 faces come out byte for byte the same.
    again = demo.synthetic_demo(n_faces=8, root=tmp_path / "again")
    assert again.root == tmp_path / "again" and len(again) == 16
    assert _hashes(again).items() <= _hashes(full).items()
    other = demo.synthetic_demo(n_faces=8, seed=1, root=tmp_path / "seed1")
    h0, h1 = _hashes(again), _hashes(other)
    assert h0.keys() == h1.keys()
    assert all(h0[k] != h1[k] for k in h0)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["again", "seed1"]  # no temp folders


def test_counts_labels_subjects_and_marking(full) -> None:
    ds = demo.synthetic_demo()
    assert (ds.name, ds.layout, ds.synthetic, len(ds)) == ("synthetic-demo", "folders", True, 200)
    assert ds.root == demo.demo_dir(0) == full.root
    assert all(r.extra["synthetic"] == "true" for r in ds.records)
    pairs: dict[str, dict[int, object]] = {}
    for r in ds.records:
        pairs.setdefault(r.subject, {})[r.label] = r
    assert sorted(pairs) == [f"demo_{i:03d}" for i in range(100)]
    assert all(sorted(p) == [BONAFIDE, ATTACK] for p in pairs.values())
    types = Counter(r.attack_type for r in ds.records if r.label == ATTACK)
    assert set(types) == {"print", "replay"} and min(types.values()) >= 30
    assert all(r.attack_type is None for r in ds.records if r.label == BONAFIDE)
    assert "SYNTHETIC DEMO DATA" in demo.SYNTHETIC_BANNER

    small = demo.synthetic_demo(n_faces=5)
    assert sorted({r.subject for r in small.records}) == [f"demo_{i:03d}" for i in range(5)]
    assert _hashes(small).items() <= _hashes(full).items()


def test_images_decode_to_rgb_of_one_size(full) -> None:
    shapes = {read_image(r.path).shape for r in full.records}
    assert shapes == {(demo.IMAGE_SIZE, demo.IMAGE_SIZE, 3)}
    assert read_image(full.records[0].path).dtype == np.uint8


def _hf_energy(path: Path) -> float:
    grey = read_image(path).astype(np.float64).mean(axis=2)
    return float(np.mean(np.abs(cv2.Laplacian(grey, cv2.CV_64F))))


def test_attacks_carry_more_high_frequency_energy(full) -> None:
    # Halftone dots and screen pixel grids add fine periodic texture the camera keeps.
    pairs: dict[str, dict[int, object]] = {}
    for r in full.records:
        pairs.setdefault(r.subject, {})[r.label] = r
    for kind in ("print", "replay"):
        diffs = [
            _hf_energy(p[ATTACK].path) - _hf_energy(p[BONAFIDE].path)
            for p in pairs.values()
            if p[ATTACK].attack_type == kind
        ]
        assert np.mean(np.array(diffs) > 0) >= 0.75, kind


def test_folder_is_reused_grown_and_repaired(tmp_path: Path) -> None:
    root = tmp_path / "d"
    first = demo.synthetic_demo(n_faces=3, root=root)
    stamps = {r.id: r.path.stat().st_mtime_ns for r in first.records}
    again = demo.synthetic_demo(n_faces=2, root=root)
    assert len(again) == 4 and all(r.path.stat().st_mtime_ns == stamps[r.id] for r in again.records)

    grown = demo.synthetic_demo(n_faces=5, root=root)
    assert len(grown) == 10 and _hashes(first).items() <= _hashes(grown).items()

    grown.records[1].path.unlink()
    repaired = demo.synthetic_demo(n_faces=5, root=root)
    assert _hashes(repaired) == _hashes(grown)
    assert [p.name for p in tmp_path.iterdir()] == ["d"]


def test_bad_arguments_and_foreign_folders_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="n_faces"):
        demo.synthetic_demo(n_faces=0)
    with pytest.raises(ValueError, match="n_faces"):
        demo.synthetic_demo(n_faces=demo.MAX_FACES + 1)
    (tmp_path / "mine.txt").write_text("keep me")
    with pytest.raises(DatasetError, match="not a synthetic demo folder"):
        demo.synthetic_demo(root=tmp_path)
    assert (tmp_path / "mine.txt").read_text() == "keep me"
