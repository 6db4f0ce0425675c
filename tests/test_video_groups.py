"""Frames of one video stay together: a frame folder in the class-folder layout, and a
manifest's `video` column, give records a video that splits group by (after subject)."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
from PIL import Image

from benchmarks.datasets import load_dataset, load_folders
from benchmarks.splits import group_ids, make_folds
from features.records import ATTACK, BONAFIDE


def write_image(path: Path, value: int) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (24, 16), (value, value // 2, 0)).save(path)
    return path


def test_frame_folders_are_videos(tmp_path: Path) -> None:
    for i in range(3):
        write_image(tmp_path / f"Live/clip01/frame_{i:04d}.jpg", 10 + i)
        write_image(tmp_path / f"Spoof/print/clip02/clip02_frame{i}.png", 20 + i)
        write_image(tmp_path / f"Spoof/clip03/frame-{i}.jpg", 30 + i)
    write_image(tmp_path / "Live/1.jpg", 40)  # a photo in the class folder itself
    write_image(tmp_path / "Spoof/print/frame_1.jpg", 41)  # frames directly in a type folder
    write_image(tmp_path / "Spoof/print/x.jpg", 42)  # ... with a photo: not a video
    write_image(tmp_path / "Spoof/replay/frame_7.jpg", 43)  # only frames: one (short) video
    ds = load_folders(tmp_path)
    assert ds.skipped == []
    got = {r.id: (r.label, r.attack_type, r.video, r.frame) for r in ds.records}
    assert got["Live/clip01/frame_0001.jpg"] == (BONAFIDE, None, "Live/clip01", None)
    assert got["Spoof/print/clip02/clip02_frame2.png"] == (
        ATTACK, "print", "Spoof/print/clip02", None)  # fmt: skip
    # Spoof/clip03 is a video, not an attack type
    assert got["Spoof/clip03/frame-0.jpg"] == (ATTACK, None, "Spoof/clip03", None)
    assert got["Live/1.jpg"] == (BONAFIDE, None, None, None)
    assert got["Spoof/print/frame_1.jpg"] == got["Spoof/print/x.jpg"] == (
        ATTACK, "print", None, None)  # fmt: skip
    assert got["Spoof/replay/frame_7.jpg"] == (ATTACK, None, "Spoof/replay", None)
    groups = dict(zip([r.id for r in ds.records], group_ids(ds.records), strict=True))
    assert {groups[f"Live/clip01/frame_{i:04d}.jpg"] for i in range(3)} == {"video:Live/clip01"}
    assert groups["Live/1.jpg"].startswith("sha256:")


def write_manifest(path: Path, rows: list[list[str]]) -> None:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)


def test_manifest_video_column_groups_frames(tmp_path: Path) -> None:
    """12 bona fide + 12 attack frames of 4 + 4 videos: k-fold never splits a video."""
    rows = [["path", "label", "video", "subject", "light"]]
    for label, name in ((0, "live"), (1, "spoof")):
        for v in range(4):
            for f in range(3):
                write_image(tmp_path / f"{name}{v}_{f}.jpg", 60 * label + 10 * v + f)
                subject = "s9" if (label, v) == (1, 3) else ""  # one video also has a subject
                rows.append([f"{name}{v}_{f}.jpg", name, f"{name}{v}", subject, "dim"])
    write_manifest(tmp_path / "manifest.csv", rows)
    ds = load_dataset(tmp_path)
    assert ds.layout == "manifest" and len(ds) == 24
    r = next(r for r in ds.records if r.id == "live2_1.jpg")
    assert (r.video, r.subject, dict(r.extra)) == ("live2", None, {"light": "dim"})
    groups = group_ids(ds.records)
    by_id = dict(zip([r.id for r in ds.records], groups, strict=True))
    assert by_id["live2_0.jpg"] == by_id["live2_2.jpg"] == "video:live2"
    assert by_id["spoof3_0.jpg"] == "subject:s9"  # subject first, then video
    assert len(set(groups)) == 8
    videos = np.array([r.video for r in ds.records])
    for fold in make_folds(ds.records, k=2, protocol="kfold"):
        sides = [set(videos[getattr(fold, p)]) for p in ("train", "dev", "test")]
        assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])


def test_folder_manifest_video_column(tmp_path: Path) -> None:
    write_image(tmp_path / "live/a.png", 1)
    write_image(tmp_path / "live/clip/frame_1.png", 2)
    write_image(tmp_path / "spoof/b.png", 3)
    write_manifest(
        tmp_path / "manifest.csv",
        [
            ["path", "label", "video"],
            ["live/a.png", "live", "v1"],
            ["live/clip/frame_1.png", "live", ""],
        ],
    )
    got = {r.id: r.video for r in load_folders(tmp_path).records}
    assert got == {"live/a.png": "v1", "live/clip/frame_1.png": "live/clip", "spoof/b.png": None}
