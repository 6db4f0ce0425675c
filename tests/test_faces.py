"""Face crop stage: detector chain, square crops, crop cache and crop_dataset, on real images."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest
from PIL import Image
from sklearn.base import clone

import features.faces as faces
from benchmarks.datasets import load_dataset
from features.faces import (
    CropStats,
    FaceCropper,
    clear_memo,
    crop_dataset,
    detect_face,
)
from features.files import cache_root
from features.images import read_image
from features.records import ATTACK, BONAFIDE, Dataset, Presentation, file_sha256


@pytest.fixture(autouse=True)
def _fresh_memo():
    clear_memo()
    yield
    clear_memo()


def record(path: Path, label: int = BONAFIDE, **kw) -> Presentation:
    return Presentation(str(path.name), path, label, file_sha256(path), **kw)


def seed_records(root: Path, cls: str, numbers) -> list[Presentation]:
    label = BONAFIDE if cls == "Live" else ATTACK
    return [record(root / cls / f"{n}.jpg", label) for n in numbers]


def write_png(path: Path, rgb: np.ndarray) -> Path:
    Image.fromarray(rgb).save(path)
    return path


def gradient(h: int, w: int) -> np.ndarray:
    """A smooth colour ramp: no face, and every crop position gives different pixels."""
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 255 // max(1, w - 1), y * 255 // max(1, h - 1), (x + y) % 256], -1).astype(
        np.uint8
    )


@pytest.fixture
def count_decodes(monkeypatch):
    """Count (and pass through) every image decode and face detection of the crop stage."""
    calls = {"read": 0, "detect": 0}
    real_read, real_detect = faces.read_image, faces.detect_faces

    def read(path):
        calls["read"] += 1
        return real_read(path)

    def detect(rgb, detector=faces.DEFAULT_DETECTOR):
        calls["detect"] += 1
        return real_detect(rgb, detector)

    monkeypatch.setattr(faces, "read_image", read)
    monkeypatch.setattr(faces, "detect_faces", detect)
    return calls


def test_cache_root_follows_env(monkeypatch, tmp_path):
    monkeypatch.setenv("LIVENESS_CACHE_DIR", str(tmp_path))
    assert cache_root() == tmp_path
    monkeypatch.delenv("LIVENESS_CACHE_DIR")
    assert cache_root() == Path.home() / ".cache" / "liveness-toolkit"


def test_real_images_of_any_size_give_square_uint8_crops(seed600_dir, tmp_path):
    recs = seed_records(seed600_dir, "Live", [1, 3]) + seed_records(seed600_dir, "Spoof", [1, 2])
    sizes = {read_image(r.path).shape[:2] for r in recs}
    assert len(sizes) == 4  # 223x350, 822x600, 600x450, 450x600: sizes and aspects differ
    for mode in ("face", "whole"):
        X = FaceCropper(size=48, mode=mode, cache_dir=tmp_path).fit(recs).transform(recs)
        assert X.shape == (4, 48, 48, 3) and X.dtype == np.uint8
    X = FaceCropper(cache_dir=tmp_path).transform(np.array(recs, dtype=object))
    assert X.shape == (4, 64, 64, 3)


def test_synthetic_box_crop_is_square_around_the_box(tmp_path):
    img = np.zeros((120, 200, 3), np.uint8)
    img[40:80, 60:100] = 255  # a 40x40 white square centred at (80, 60)
    path = write_png(tmp_path / "square.png", img)
    r = record(path, box=(60, 40, 40, 40))
    tight = FaceCropper(size=32, scale=1.0, cache_dir=tmp_path).crop_one(r)
    assert tight.source == "box" and tight.face_found
    assert tight.crop.min() == 255
    wide = FaceCropper(size=32, scale=2.0, cache_dir=tmp_path).crop_one(r).crop
    assert wide[8:24, 8:24].min() == 255  # the square fills the middle half
    assert wide[:6, :6].max() == 0 and wide[-6:, -6:].max() == 0


def test_box_near_the_border_is_reflect_padded_not_shifted(tmp_path):
    img = gradient(100, 100)
    path = write_png(tmp_path / "g.png", img)
    r = record(path, box=(0, 0, 20, 20))  # crop of side 40 centred at (10, 10)
    crop = FaceCropper(size=40, scale=2.0, cache_dir=tmp_path).crop_one(r).crop
    expected = cv2.copyMakeBorder(img[:30, :30], 10, 0, 10, 0, cv2.BORDER_REFLECT_101)
    np.testing.assert_array_equal(crop, expected)


def test_celeba_boxes_are_used_and_hold_a_face(celeba_dir, tmp_path, count_decodes):
    ds = load_dataset(celeba_dir)
    assert all(r.box is not None for r in ds.records)
    cropper = FaceCropper(size=128, cache_dir=tmp_path)
    crops = cropper.transform(ds.records)
    assert {cropper.crop_one(r).source for r in ds.records} == {"box"}
    assert count_decodes["detect"] == 0
    # A box read in the wrong coordinates would crop background: the detector must see a face.
    found = [detect_face(c) is not None for c in crops]
    assert sum(found) >= 0.75 * len(found)


def test_detector_finds_most_faces_on_seed600_live(seed600_dir, tmp_path, count_decodes):
    recs = seed_records(seed600_dir, "Live", range(1, 21))
    cropper = FaceCropper(cache_dir=tmp_path)
    found = np.array([cropper.crop_one(r).face_found for r in recs])
    assert count_decodes["detect"] == 20
    assert {cropper.crop_one(r).source for r in recs} <= {"detector", "centre"}
    assert found.sum() >= 15  # measured: 16 of these 20 (256 of all 300 Live images)


def test_fast_and_thorough_detectors_agree_where_both_find_a_face(seed600_dir, tmp_path):
    paths = [seed600_dir / c / f"{n}.jpg" for c in ("Live", "Spoof") for n in range(1, 301, 10)]
    images = [read_image(p) for p in paths]
    fast = [detect_face(im, "fast") for im in images]
    thorough = [detect_face(im, "thorough") for im in images]
    assert sum(b is not None for b in fast) >= 0.75 * len(images)  # measured: 51 of these 60
    both = [(a, b) for a, b in zip(fast, thorough, strict=True) if a is not None and b is not None]
    assert len(both) >= 0.7 * len(images)  # measured: 50
    centres_close = [
        abs((a[0] + a[2] / 2) - (b[0] + b[2] / 2)) < 0.25 * b[2]
        and abs((a[1] + a[3] / 2) - (b[1] + b[3] / 2)) < 0.25 * b[3]
        and 0.7 < a[2] / b[2] < 1.4
        for a, b in both
    ]
    assert sum(centres_close) >= 0.85 * len(both)  # measured: 48 of 50
    # Different settings give different crops, so they must not share cache entries.
    keys = {FaceCropper(detector=d, cache_dir=tmp_path).param_key() for d in ("fast", "thorough")}
    assert len(keys) == 2


def test_no_face_falls_back_to_the_centre_square(tmp_path):
    img = gradient(100, 200)
    r = record(write_png(tmp_path / "noface.png", img))
    res = FaceCropper(size=50, cache_dir=tmp_path).crop_one(r)
    assert (res.source, res.face_found) == ("centre", False)
    np.testing.assert_array_equal(
        res.crop, cv2.resize(img[:, 50:150], (50, 50), interpolation=cv2.INTER_AREA)
    )
    assert not FaceCropper(size=50, cache_dir=tmp_path).crop_one(r).face_found


def test_whole_mode_squashes_the_whole_image(tmp_path):
    img = gradient(60, 180)
    r = record(write_png(tmp_path / "wide.png", img))
    res = FaceCropper(size=30, mode="whole", cache_dir=tmp_path).crop_one(r)
    assert (res.source, res.face_found) == ("whole", False)
    np.testing.assert_array_equal(res.crop, cv2.resize(img, (30, 30), interpolation=cv2.INTER_AREA))


def test_video_frame_records_read_their_frame(tmp_path):
    path = tmp_path / "clip.avi"
    colours = [(200, 30, 30), (30, 200, 30), (30, 30, 200)]
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"MJPG"), 5, (64, 48))
    for c in colours:
        writer.write(np.full((48, 64, 3), c[::-1], np.uint8))  # OpenCV writes BGR
    writer.release()
    sha = file_sha256(path)
    recs = [Presentation(f"clip#{i}", path, 0, f"{sha}#{i}", video="clip", frame=i) for i in (0, 2)]
    crops = FaceCropper(size=16, cache_dir=tmp_path).transform(recs)
    for crop, i in zip(crops, (0, 2), strict=True):
        assert np.abs(crop.reshape(-1, 3).mean(0) - colours[i]).max() < 20


def test_second_transform_decodes_nothing(seed600_dir, tmp_path, count_decodes):
    recs = seed_records(seed600_dir, "Live", [1, 2]) + seed_records(seed600_dir, "Spoof", [3])
    first = FaceCropper(cache_dir=tmp_path).transform(recs)
    assert count_decodes == {"read": 3, "detect": 3}
    clear_memo()  # force the disk cache
    again = clone(FaceCropper(cache_dir=tmp_path)).transform(recs)
    np.testing.assert_array_equal(first, again)
    assert count_decodes == {"read": 3, "detect": 3}
    for f in tmp_path.rglob("*.npz"):  # the in-process memo needs no disk at all
        f.unlink()
    np.testing.assert_array_equal(FaceCropper(cache_dir=tmp_path).transform(recs), first)
    assert count_decodes == {"read": 3, "detect": 3}
    FaceCropper(size=32, cache_dir=tmp_path).transform(recs)  # other params: other entries
    assert count_decodes["read"] == 6


def test_cache_defaults_to_cache_root(seed600_dir):
    recs = seed_records(seed600_dir, "Live", [5])
    FaceCropper(size=24).transform(recs)
    assert len(list((cache_root() / "crops").rglob("*.npz"))) >= 1


def test_damaged_cache_entries_are_rebuilt(seed600_dir, tmp_path, count_decodes):
    recs = seed_records(seed600_dir, "Live", [1, 2, 3, 4])
    cropper = FaceCropper(cache_dir=tmp_path)
    first = cropper.transform(recs)
    entries = [cropper._entry_path(r) for r in recs]
    assert all(p.is_file() for p in entries)
    data = entries[0].read_bytes()
    entries[0].write_bytes(data[: len(data) // 2])  # truncated
    entries[1].write_bytes(b"garbage, not a zip")
    np.savez(entries[2], crop=np.zeros((8, 8, 3), np.uint8), face_found=True, source="box")
    clear_memo()
    count_decodes["read"] = 0
    again = cropper.transform(recs)
    np.testing.assert_array_equal(again, first)
    assert count_decodes["read"] == 3
    clear_memo()
    cropper.transform(recs)  # all four entries are valid again
    assert count_decodes["read"] == 3
    assert not list(tmp_path.rglob(".tmp-*"))


def test_two_valid_entries_swapped_on_disk_are_rebuilt_not_used(
    seed600_dir, tmp_path, count_decodes
):
    recs = seed_records(seed600_dir, "Live", [5, 6])
    cropper = FaceCropper(cache_dir=tmp_path)
    first = cropper.transform(recs)
    a, b = (cropper._entry_path(r) for r in recs)
    data_a, data_b = a.read_bytes(), b.read_bytes()
    a.write_bytes(data_b)
    b.write_bytes(data_a)
    clear_memo()
    count_decodes["read"] = 0
    np.testing.assert_array_equal(cropper.transform(recs), first)  # not each other's crops
    assert count_decodes["read"] == 2


def test_crop_dataset_skips_undecodable_files(seed600_dir, tmp_path):
    good = seed_records(seed600_dir, "Live", [1, 2]) + seed_records(seed600_dir, "Spoof", [1])
    bad_file = tmp_path / "broken.jpg"
    bad_file.write_bytes(b"\xff\xd8\xff not really a jpeg")
    noface = record(write_png(tmp_path / "noface.png", gradient(80, 80)), ATTACK)
    bad_box = record(write_png(tmp_path / "box.png", gradient(50, 50)), box=(100, 100, 10, 10))
    recs = good + [record(bad_file, ATTACK), noface, bad_box]
    ds = Dataset("mixed", tmp_path, "folders", recs)
    for n_jobs in (1, 2):
        clear_memo()
        out, stats = crop_dataset(ds, FaceCropper(cache_dir=tmp_path / f"c{n_jobs}"), n_jobs, False)
        assert [r.id for r in out.records] == [r.id for r in good + [noface]]
        assert {s.path for s in out.skipped} == {bad_file, bad_box.path}
        reasons = {s.path: s.reason for s in out.skipped}
        assert "face box" in reasons[bad_box.path]
        assert isinstance(stats, CropStats)
        d = stats.as_dict()
        assert (d["n_records"], d["n_skipped"], d["n_face_found"] + d["n_centre"]) == (4, 2, 4)
        assert d["by_source"]["detector"] == d["n_face_found"] >= 2
    assert len(ds.records) == 6  # the input dataset is left as it was


def test_bad_parameters_and_inputs_are_refused(tmp_path):
    with pytest.raises(ValueError, match="mode"):
        FaceCropper(mode="eyes").fit(None)
    with pytest.raises(ValueError, match="size"):
        FaceCropper(size=2).fit(None)
    with pytest.raises(ValueError, match="detector.*'yunet'"):
        FaceCropper(detector="yunet").fit(None)
    with pytest.raises(ValueError, match="'yunet'.*fast"):
        detect_face(np.zeros((48, 64, 3), np.uint8), "yunet")
    with pytest.raises(TypeError, match="Presentation"):
        FaceCropper(cache_dir=tmp_path).transform([np.zeros((8, 8, 3), np.uint8)])
    missing = Presentation("gone.jpg", tmp_path / "gone.jpg", 0, "0" * 64)
    with pytest.raises(ValueError, match="gone.jpg"):
        FaceCropper(cache_dir=tmp_path).transform([missing])
