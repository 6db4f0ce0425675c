"""The MSU-MFSD loader on tiny videos written here with OpenCV: naming, official split,
frame sampling (checked against the frames' known brightness) and corrupt videos."""

from __future__ import annotations

import zlib
from pathlib import Path

import cv2
import numpy as np
import pytest

from benchmarks.datasets import load_dataset, load_msu
from features.images import read_frame, sample_frames
from features.records import ATTACK, BONAFIDE, DatasetError, file_sha256

N_FRAMES = 20
FOURCC = {".mp4": "mp4v", ".mov": "mp4v", ".avi": "MJPG"}


def write_video(path: Path, n: int = N_FRAMES) -> Path:
    """A 64x48 video whose frame i is uniformly grey at level 10 * i (frames are identifiable)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*FOURCC[path.suffix]), 10, (64, 48))
    assert writer.isOpened(), f"this OpenCV build cannot write {path.suffix}"
    stamp = zlib.crc32(path.name.encode()) % 256  # every video's bytes differ from the others'
    for i in range(n):
        frame = np.full((48, 64, 3), 10 * i, np.uint8)
        frame[:4, :4] = stamp
        writer.write(frame)
    writer.release()
    return path


@pytest.fixture(scope="module")
def msu_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("msu")
    write_video(root / "scene01/real/real_client001_android_SD_scene01.mp4")
    write_video(root / "scene01/real/real_client2_laptop_SD_scene01.mov")
    write_video(root / "scene01/attack/attack_client001_laptop_SD_printed_photo_scene01.avi")
    write_video(root / "scene01/attack/attack_client002_android_SD_ipad_video_scene01.mp4")
    write_video(root / "scene01/attack/attack_client035_android_SD_iphone_video_scene01.mp4")
    (root / "train_sub_list.txt").write_text("1\n\n")
    (root / "test_sub_list.txt").write_text("002\n")
    return root


def test_sample_frames() -> None:
    assert sample_frames(20, 5) == [0, 5, 10, 14, 19]
    assert sample_frames(20, frame_step=4) == [0, 4, 8, 12, 16]
    assert sample_frames(3, 10) == [0, 1, 2]
    assert sample_frames(4, None) == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="frame_step must be a positive integer"):
        sample_frames(20, frame_step=0)


def test_msu_records(msu_root: Path) -> None:
    ds = load_dataset(msu_root, frames_per_video=5)
    assert (ds.layout, ds.skipped) == ("msu", [])
    assert len(ds) == 5 * 5
    videos = {r.video for r in ds.records}
    assert len(videos) == 5
    facts = {
        r.video: (r.label, r.subject, r.attack_type, r.split, r.extra["device"]) for r in ds.records
    }
    assert facts == {
        "scene01/real/real_client001_android_SD_scene01.mp4": (
            BONAFIDE, "client001", None, "train", "android"),
        "scene01/real/real_client2_laptop_SD_scene01.mov": (
            BONAFIDE, "client002", None, "test", "laptop"),
        "scene01/attack/attack_client001_laptop_SD_printed_photo_scene01.avi": (
            ATTACK, "client001", "printed_photo", "train", "laptop"),
        "scene01/attack/attack_client002_android_SD_ipad_video_scene01.mp4": (
            ATTACK, "client002", "ipad_video", "test", "android"),
        "scene01/attack/attack_client035_android_SD_iphone_video_scene01.mp4": (
            ATTACK, "client035", "iphone_video", None, "android"),
    }  # fmt: skip
    for r in ds.records:
        assert r.id == f"{r.video}#{r.frame}"
        assert r.path == msu_root / r.video
        assert r.sha256 == f"{file_sha256(r.path)}#{r.frame}"
    assert {r.frame for r in ds.records} == {0, 5, 10, 14, 19}
    # The records point at the frames they claim: frame i is grey level 10 * i.
    for r in ds.records[:: len(ds.records) // 6]:
        assert abs(read_frame(r.path, r.frame).mean() - 10 * r.frame) < 6


def test_msu_frame_step(msu_root: Path) -> None:
    ds = load_msu(msu_root, frame_step=7)
    assert len(ds) == 5 * 3
    assert {r.frame for r in ds.records} == {0, 7, 14}


def test_msu_bad_videos_are_skipped(tmp_path: Path) -> None:
    good = write_video(tmp_path / "scene01/real/real_client001_android_SD_scene01.mp4")
    attack = tmp_path / "scene01/attack"
    attack.mkdir()
    noise = attack / "attack_client001_android_SD_ipad_video_scene01.mp4"
    noise.write_bytes(np.random.default_rng(0).integers(0, 256, 5000, np.uint8).tobytes())
    empty = attack / "attack_client001_laptop_SD_ipad_video_scene01.mov"
    empty.touch()
    cut = attack / "attack_client001_android_SD_printed_photo_scene01.mp4"
    cut.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    # An AVI cut at 80 % still opens and reports 20 frames, but its last frames are gone.
    avi = write_video(tmp_path / "scene01/real/real_client002_android_SD_scene01.avi")
    tail_cut = avi.with_name("real_client003_android_SD_scene01.avi")
    tail_cut.write_bytes(avi.read_bytes()[: avi.stat().st_size * 8 // 10])
    avi.unlink()
    misnamed = write_video(attack / "client001_replay.mp4", n=2)
    misplaced = write_video(tmp_path / "extra/real_client001_android_SD_scene01.mp4", n=2)
    (tmp_path / "scene01/real/notes.txt").write_text("not a video")
    ds = load_msu(tmp_path, frames_per_video=4)
    assert {r.video for r in ds.records} == {"scene01/real/real_client001_android_SD_scene01.mp4"}
    reasons = {s.path: s.reason for s in ds.skipped}
    assert set(reasons) == {noise, empty, cut, tail_cut, misnamed, misplaced}
    assert reasons[tail_cut] == "reports 20 frames but frame 19 cannot be read"
    assert reasons[empty] == "empty file (0 bytes)"
    assert "not a video file OpenCV can open" in reasons[noise]
    assert "naming convention" in reasons[misnamed]
    assert "not at scene" in reasons[misplaced]


def test_msu_errors(tmp_path: Path) -> None:
    write_video(tmp_path / "scene01/real/attack_client001_android_SD_ipad_video_scene01.mp4", n=2)
    with pytest.raises(
        DatasetError, match="the file name says attack but it is in the real/ folder"
    ):
        load_msu(tmp_path)
    (tmp_path / "train_sub_list.txt").write_text("1\n2\n")
    (tmp_path / "test_sub_list.txt").write_text("3\n002\n")
    with pytest.raises(DatasetError, match="client 002 is listed in both train_sub_list.txt and"):
        load_msu(tmp_path)
    (tmp_path / "test_sub_list.txt").write_text("3\nx7\n")
    with pytest.raises(DatasetError, match=r"test_sub_list\.txt line 2: 'x7' is not a client"):
        load_msu(tmp_path)
    with pytest.raises(ValueError, match="frames_per_video must be a positive integer"):
        load_msu(tmp_path, frames_per_video=0)
