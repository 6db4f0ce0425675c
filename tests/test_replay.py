"""The Replay-Attack loader on real frames (a symlinked subset, and the whole shared tree),
on a synthetic tree of tiny .mov videos, and on broken trees; and its official split."""

from __future__ import annotations

import dataclasses
import zlib
from collections import Counter
from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image

import benchmarks.datasets.replay as replay
from benchmarks.datasets import detect_layout, load_dataset, load_replay_attack
from benchmarks.splits import group_ids, make_folds
from features.faces import FaceCropper
from features.images import read_frame, read_image
from features.records import ATTACK, BONAFIDE, DatasetError, file_sha256

SPLITS = ("train", "devel", "test")


def _first(folder: Path, word: str) -> str:
    return next(p.name for p in sorted(folder.iterdir()) if word in p.name)


@pytest.fixture(scope="module")
def replay_subset(replay_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Per split 2 bona fide videos (first and last client), a print and a video replay on the
    fixed support, and the same print name plus a mobile photo held by hand: 18 videos of 5
    frames, every frame a symlink to the real file."""
    root = tmp_path_factory.mktemp("replay") / "replay-subset"
    for split in SPLITS:
        real = sorted(p.name for p in (replay_dir / split / "real").iterdir())
        fixed, hand = (replay_dir / split / "attack" / s for s in ("fixed", "hand"))
        picks = {
            "real": [real[0], real[-1]],
            "attack/fixed": [_first(fixed, "attack_print"), _first(fixed, "highdef_video")],
            "attack/hand": [_first(fixed, "attack_print"), _first(hand, "mobile_photo")],
        }
        for place, videos in picks.items():
            for video in videos:
                src = replay_dir / split / place / video
                (root / split / place / video).mkdir(parents=True)
                for f in src.iterdir():
                    (root / split / place / video / f.name).symlink_to(f)
    return root


def test_subset_records(replay_subset: Path) -> None:
    ds = load_dataset(replay_subset)
    assert (ds.layout, ds.skipped) == ("replay-attack", [])
    assert len(ds) == 3 * 6 * 5
    by_video = {}
    for r in ds.records:
        by_video.setdefault(r.video, []).append(r)
        assert r.id == r.path.relative_to(replay_subset).as_posix()
        assert r.video == r.path.parent.relative_to(replay_subset).as_posix()
        assert r.frame is None  # an image, not a frame to seek in a video file
        assert r.extra["frame_index"] == str(int(r.path.stem.removeprefix("frame_")))
        assert r.sha256 == file_sha256(r.path)
    assert len(by_video) == 18 and {len(v) for v in by_video.values()} == {5}
    facts = {
        v: (r.label, r.subject, r.attack_type, r.split,
            {k: x for k, x in r.extra.items() if k != "frame_index"})
        for v, (r, *_) in by_video.items()
    }  # fmt: skip
    assert facts["train/real/client001_session01_webcam_authenticate_adverse_1"] == (
        BONAFIDE, "client001", None, "train", {"light": "adverse"})  # fmt: skip
    adverse = {"light": "adverse"}
    assert facts["devel/attack/hand/attack_mobile_client003_session01_mobile_photo_adverse"] == (
        ATTACK, "client003", "mobile_photo", "dev", {**adverse, "support": "hand"})  # fmt: skip
    assert facts["test/attack/fixed/attack_highdef_client009_session01_highdef_video_adverse"] == (
        ATTACK, "client009", "highdef_video", "test", {**adverse, "support": "fixed"})  # fmt: skip
    # the same print attack name on both supports: two videos, one client
    fixed, hand = (f"train/attack/{s}/attack_print_client001_session01_highdef_photo_adverse"
                   for s in ("fixed", "hand"))  # fmt: skip
    assert facts[fixed][:4] == facts[hand][:4] == (ATTACK, "client001", "print", "train")
    assert Counter(f[2] for f in facts.values()) == {
        None: 6,
        "print": 6,
        "highdef_video": 3,
        "mobile_photo": 3,
    }


def test_frame_images_decode_as_images(replay_subset: Path, tmp_path: Path) -> None:
    """features/faces decodes a record with frame None as an image file (not a video seek)."""
    r = next(r for r in load_replay_attack(replay_subset).records if r.extra["frame_index"] != "0")
    cropper = FaceCropper(size=32, mode="whole", cache_dir=tmp_path)
    assert np.array_equal(cropper.crop_one(r).crop, cropper.crop_array(read_image(r.path)).crop)


def test_frames_per_video_samples_the_frame_folders(replay_subset: Path) -> None:
    ds = load_replay_attack(replay_subset, frames_per_video=2)
    assert len(ds) == 18 * 2
    for video in {r.video for r in ds.records}:
        names = sorted(p.name for p in (replay_subset / video).iterdir())
        assert sorted(r.path.name for r in ds.records if r.video == video) == [names[0], names[-1]]


def test_official_fold_is_train_devel_test(replay_subset: Path) -> None:
    records = load_replay_attack(replay_subset).records
    (fold,) = make_folds(records)  # protocol auto: the official split, devel as dev
    for part, split in (("train", "train"), ("dev", "dev"), ("test", "test")):
        assert getattr(fold, part).tolist() == [
            i for i, r in enumerate(records) if r.split == split
        ]
    groups = group_ids(records)
    for key in ("video", "subject"):
        sides = [
            {getattr(records[i], key) for i in getattr(fold, p)} for p in ("train", "dev", "test")
        ]
        assert not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
    # every frame is grouped by its client (2 per split here), so 6 groups, not 18 videos
    assert sorted(set(groups)) == sorted({f"subject:{r.subject}" for r in records})
    assert len(set(groups)) == 6
    assert make_folds(records, protocol="official") == [fold]


def test_official_split_refuses_a_video_across_splits(replay_subset: Path) -> None:
    """A video (or client) on two sides of the official split is refused, not silently used."""
    records = load_replay_attack(replay_subset).records
    moved = [dataclasses.replace(r, split="test") if i == 0 else r for i, r in enumerate(records)]
    with pytest.raises(DatasetError, match="not group-disjoint"):
        make_folds(moved, protocol="official")
    no_subject = [dataclasses.replace(r, subject=None) for r in moved]  # the video link alone
    with pytest.raises(DatasetError, match="video:"):
        make_folds(no_subject, protocol="official")


def test_full_tree(replay_dir: Path) -> None:
    """All 6,000 frames: the official counts per split and class (load takes ~1-2 s)."""
    ds = load_dataset(replay_dir)
    assert (ds.layout, len(ds), ds.skipped) == ("replay-attack", 6000, [])
    frames = Counter((r.split, r.label) for r in ds.records)
    videos = Counter(
        (s, label) for s, label, _ in {(r.split, r.label, r.video) for r in ds.records}
    )
    clients = Counter(s for s, _ in {(r.split, r.subject) for r in ds.records})
    expect = {"train": (60, 300, 15), "dev": (60, 300, 15), "test": (80, 400, 20)}
    for split, (n_real, n_attack, n_clients) in expect.items():
        assert (videos[split, BONAFIDE], videos[split, ATTACK]) == (n_real, n_attack)
        assert (frames[split, BONAFIDE], frames[split, ATTACK]) == (5 * n_real, 5 * n_attack)
        assert clients[split] == n_clients
    assert Counter(r.attack_type for r in ds.records if r.label == ATTACK) == {
        t: 1000 for t in ("print", "mobile_photo", "highdef_photo", "mobile_video", "highdef_video")
    }
    (fold,) = make_folds(ds.records)
    assert (len(fold.train), len(fold.dev), len(fold.test)) == (1800, 1800, 2400)


# ---------------------------------------------------------------- synthetic trees

REAL = "client{c:03d}_session01_webcam_authenticate_controlled_1"
PRINT = "attack_print_client{c:03d}_session01_highdef_photo_adverse"
VIDEO = "attack_mobile_client{c:03d}_session01_mobile_video_controlled"


def tree_videos() -> dict[str, str]:
    """One bona fide, one fixed and one hand-held video per split, a different client each."""
    out = {}
    for i, split in enumerate(SPLITS):
        out[f"{split}/real/{REAL.format(c=i + 1)}"] = "real"
        out[f"{split}/attack/fixed/{PRINT.format(c=i + 1)}"] = "print"
        out[f"{split}/attack/hand/{VIDEO.format(c=i + 1)}"] = "mobile_video"
    return out


def write_frames(folder: Path, n: int = 3) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        Image.new("RGB", (32, 24), (len(str(folder)) % 200, 10 * i, 0)).save(
            folder / f"frame_{7 * i:05d}.jpg"
        )


@pytest.fixture
def frames_tree(tmp_path: Path) -> Path:
    root = tmp_path / "replay"
    for video in tree_videos():
        write_frames(root / video)
    return root


def write_video(path: Path, n: int = 20) -> Path:
    """A 64x48 video whose frame i is uniformly grey at level 10 * i."""
    path.parent.mkdir(parents=True, exist_ok=True)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), 10, (64, 48))
    assert writer.isOpened(), "this OpenCV build cannot write .mov"
    stamp = zlib.crc32(path.name.encode()) % 256  # every video's bytes differ from the others'
    for i in range(n):
        frame = np.full((48, 64, 3), 10 * i, np.uint8)
        frame[:4, :4] = stamp
        writer.write(frame)
    writer.release()
    return path


def test_mov_tree(tmp_path: Path) -> None:
    root = tmp_path / "replay-mov"
    for video in tree_videos():
        write_video(root / f"{video}.mov")
    assert detect_layout(root) == "replay-attack"
    ds = load_dataset(root, frames_per_video=4)
    assert (len(ds), ds.skipped) == (9 * 4, [])
    assert {r.video for r in ds.records} == set(tree_videos())  # no suffix: as with frames
    for r in ds.records:
        assert r.path == root / f"{r.video}.mov"
        assert r.id == f"{r.video}.mov#{r.frame}"
        assert r.sha256 == f"{file_sha256(r.path)}#{r.frame}"
        assert r.attack_type == (None if r.label == BONAFIDE else tree_videos()[r.video])
        assert "frame_index" not in r.extra
    assert {r.frame for r in ds.records} == {0, 6, 13, 19}
    r = next(r for r in ds.records if r.frame == 13)
    assert abs(int(read_frame(r.path, r.frame).mean()) - 130) <= 3  # the frame it claims
    assert Counter(r.split for r in ds.records) == {"train": 12, "dev": 12, "test": 12}


def test_bad_video_and_frames_are_skipped(frames_tree: Path) -> None:
    empty = frames_tree / "train/real" / REAL.format(c=50)
    empty.mkdir()
    broken = frames_tree / "test/attack/fixed" / PRINT.format(c=3) / "frame_00099.jpg"
    broken.write_bytes(b"not a jpeg")
    bad_mov = frames_tree / "devel/attack/hand" / f"{VIDEO.format(c=51)}.mov"
    bad_mov.write_bytes(b"\0" * 100)
    stray = frames_tree / "train/attack/notes.txt"
    stray.write_text("x")
    enroll = frames_tree / "enroll"  # the original's enrolment videos: not in the protocol
    write_frames(enroll / "train" / REAL.format(c=1))
    ds = load_replay_attack(frames_tree)
    reasons = {s.path: s.reason for s in ds.skipped}
    assert set(reasons) == {empty, broken, bad_mov, stray, enroll}
    assert "not one of the official split folders" in reasons[enroll]
    assert "empty frames folder" in reasons[empty]
    assert "not attack/fixed/ or attack/hand/" in reasons[stray]
    assert len(ds) == 9 * 3  # every good frame is kept, the broken one only is left out


def test_missing_split_is_refused(frames_tree: Path) -> None:
    for p in sorted((frames_tree / "devel").rglob("*"), reverse=True):
        p.unlink() if p.is_file() else p.rmdir()
    (frames_tree / "devel").rmdir()
    assert detect_layout(frames_tree) == "replay-attack"
    with pytest.raises(DatasetError, match=r"missing devel/real/, devel/attack/"):
        load_dataset(frames_tree)


@pytest.mark.parametrize(
    ("video", "message"),
    [
        ("train/real/session01_webcam_authenticate_adverse_1", "no client id"),
        ("test/attack/hand/attack_mobile_client7_session01_mobile_photo_adverse", "no client id"),
        ("train/real/client004_session01_webcam_adverse_1", "does not follow the Replay-Attack"),
        (f"devel/real/{PRINT.format(c=4)}", "the other class but it is in real/"),
    ],
)
def test_bad_video_names_are_refused_before_any_work(
    frames_tree: Path, video: str, message: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    write_frames(frames_tree / video)

    def no_work(*args, **kw):
        raise AssertionError("files were read before the names were checked")

    monkeypatch.setattr(replay, "inspect_files", no_work)
    with pytest.raises(DatasetError, match=message) as e:
        load_replay_attack(frames_tree)
    assert video.split("/")[-1] in str(e.value)


def test_frame_options_are_checked(frames_tree: Path) -> None:
    with pytest.raises(ValueError, match="frames_per_video must be a positive integer"):
        load_replay_attack(frames_tree, frames_per_video=0)
    with pytest.raises(DatasetError, match="not a folder"):
        load_replay_attack(frames_tree / "nothing")
    with pytest.raises(DatasetError, match="subject_pattern is not used"):
        load_dataset(frames_tree, subject_pattern=r"(\d+)")
