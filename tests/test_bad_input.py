"""Bad input, written here with Pillow/NumPy/zlib: every bad file is skipped with a reason
(or refused with a message naming it), odd pixel formats decode to (H, W, 3) uint8, and
unusable datasets are refused clearly."""

from __future__ import annotations

import json
import os
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.datasets import check_dataset, load_celeba, load_dataset, load_folders
from features.images import IMAGE_SUFFIXES, ImageError, read_image
from features.records import DatasetError


def noise_image(path: Path, size: tuple[int, int] = (64, 48), seed: int = 0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    pixels = np.random.default_rng(seed).integers(0, 256, (size[1], size[0], 3), np.uint8)
    Image.fromarray(pixels).save(path)
    return path


def png_header_only(path: Path, width: int, height: int) -> Path:
    """A tiny PNG whose header claims width x height pixels (a decompression bomb's header)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b""))
        + chunk(b"IEND", b"")
    )
    return path


@pytest.fixture
def bad_tree(tmp_path: Path) -> dict[str, Path]:
    """Class folders holding one good image per class and one bad file of each kind."""
    f = {"good_live": noise_image(tmp_path / "live/good.png", seed=1)}
    f["good_spoof"] = noise_image(tmp_path / "spoof/good.jpg", seed=2)
    f["empty"] = tmp_path / "spoof/empty.jpg"
    f["empty"].touch()
    f["text"] = tmp_path / "spoof/text.png"
    f["text"].write_text("this is not a picture\n")
    f["dangling"] = tmp_path / "live/dangling.jpg"
    f["dangling"].symlink_to(tmp_path / "nowhere.jpg")
    f["bomb"] = png_header_only(tmp_path / "spoof/bomb.png", 20000, 20000)
    f["large"] = png_header_only(tmp_path / "spoof/large.png", 9000, 9000)
    jpeg = noise_image(tmp_path / "live/whole.jpg", (200, 150), seed=3).read_bytes()
    f["truncated"] = tmp_path / "live/truncated.jpg"
    f["truncated"].write_bytes(jpeg[: len(jpeg) // 2])
    (tmp_path / "live/whole.jpg").unlink()
    (tmp_path / "spoof/notes.txt").write_text("not an image and not pretending to be one")
    return f


def test_bad_files_are_skipped_with_reasons(tmp_path: Path, bad_tree: dict[str, Path]) -> None:
    ds = load_folders(tmp_path)
    reasons = {s.path: s.reason for s in ds.skipped}
    f = bad_tree
    assert reasons == {
        f["empty"]: "empty file (0 bytes)",
        f["text"]: "not an image file Pillow can identify",
        f["dangling"]: "file not found",
        f["bomb"]: "image too large (over 64,000,000 pixels)",
        f["large"]: "image too large: 9000x9000 is over 64,000,000 pixels",
    }
    # Nothing is dropped silently: every file with an image suffix is a record or skipped.
    records = {r.path for r in ds.records}
    assert records == {f["good_live"], f["good_spoof"], f["truncated"]}
    images = {p for p in tmp_path.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES}
    assert images == records | set(reasons)


def test_truncated_image_passes_header_check_but_not_decoding(
    tmp_path: Path, bad_tree: dict[str, Path]
) -> None:
    ds = load_folders(tmp_path)
    [rec] = [r for r in ds.records if r.path == bad_tree["truncated"]]
    with pytest.raises(ImageError, match=r"truncated\.jpg: cannot decode .*truncated") as e:
        read_image(rec.path)
    assert e.value.path == bad_tree["truncated"]
    assert read_image(bad_tree["good_live"]).shape == (48, 64, 3)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty", r"empty\.jpg: empty file"),
        ("text", r"text\.png: not an image"),
        ("dangling", r"dangling\.jpg: file not found"),
        ("bomb", r"bomb\.png: image too large"),
        ("large", r"large\.png: image too large: 9000x9000"),
    ],
)
def test_read_image_names_the_file(bad_tree: dict[str, Path], name: str, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        read_image(bad_tree[name])


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a file without read permission")
def test_unreadable_file_is_skipped(tmp_path: Path) -> None:
    noise_image(tmp_path / "live/a.png")
    locked = noise_image(tmp_path / "spoof/b.png", seed=1)
    locked.chmod(0)
    ds = load_folders(tmp_path)
    assert [s.path for s in ds.skipped] == [locked]
    assert "unreadable" in ds.skipped[0].reason or "ermission" in ds.skipped[0].reason


def test_odd_pixel_formats_load_as_rgb8(tmp_path: Path) -> None:
    grey = np.full((6, 8), 100, np.uint8)
    Image.fromarray(grey, "L").save(tmp_path / "grey.png")
    Image.fromarray(grey, "L").save(tmp_path / "grey.jpg", quality=100)
    deep = np.zeros((6, 8), np.uint16)
    deep[:, 4:] = 65535
    Image.fromarray(deep).save(tmp_path / "deep16.png")
    pal = Image.new("P", (8, 6))
    pal.putpalette([10, 20, 30, 200, 100, 50] + [0] * 762)
    pal.putdata([0] * 24 + [1] * 24)
    pal.save(tmp_path / "palette.png")
    rgba = np.zeros((6, 8, 4), np.uint8)
    rgba[:, :4] = (255, 0, 0, 255)  # opaque red; the right half is fully transparent
    Image.fromarray(rgba, "RGBA").save(tmp_path / "rgba.png")
    (tmp_path / "live").mkdir()
    for p in list(tmp_path.glob("*.*")):
        p.rename(tmp_path / "live" / p.name)
    noise_image(tmp_path / "spoof/x.png")
    ds = load_dataset(tmp_path)
    assert (len(ds), ds.skipped) == (6, [])
    arrays = {r.path.name: read_image(r.path) for r in ds.records}
    for a in arrays.values():
        assert a.dtype == np.uint8 and a.ndim == 3 and a.shape[2] == 3
    assert (arrays["grey.png"] == 100).all()
    assert np.abs(arrays["grey.jpg"].astype(int) - 100).max() <= 2
    assert (arrays["deep16.png"][:, :4] == 0).all() and (arrays["deep16.png"][:, 4:] == 255).all()
    assert (arrays["palette.png"][:3] == (10, 20, 30)).all()
    assert (arrays["palette.png"][3:] == (200, 100, 50)).all()
    assert (arrays["rgba.png"][:, :4] == (255, 0, 0)).all()
    assert (arrays["rgba.png"][:, 4:] == 255).all()  # transparent -> composited on white


def test_empty_folder(tmp_path: Path) -> None:
    with pytest.raises(
        DatasetError, match=rf"{tmp_path}: cannot tell the dataset layout .*nothing"
    ):
        load_dataset(tmp_path)
    (tmp_path / "Live").mkdir()
    (tmp_path / "Spoof").mkdir()
    (tmp_path / "Spoof/bad.jpg").write_text("no")
    ds = load_dataset(tmp_path)
    assert len(ds) == 0
    with pytest.raises(DatasetError, match=rf"{tmp_path}: no images were found \(1 file"):
        check_dataset(ds)


def test_one_class_only(tmp_path: Path) -> None:
    noise_image(tmp_path / "Spoof/1.png")
    noise_image(tmp_path / "Spoof/2.png", seed=1)
    with pytest.raises(DatasetError, match=r"only attack images \(2\) were found, no bona fide"):
        check_dataset(load_dataset(tmp_path))


def test_manifest_naming_missing_or_bad_images(tmp_path: Path) -> None:
    noise_image(tmp_path / "a.png")
    noise_image(tmp_path / "b.png", seed=1)
    (tmp_path / "c.jpg").write_bytes(b"")
    (tmp_path / "list.csv").write_text(
        "path,label\na.png,live\nb.png,spoof\ngone.png,spoof\nc.jpg,live\nclip.mp4,spoof\n"
    )
    ds = load_dataset(tmp_path / "list.csv")
    assert [r.id for r in ds.records] == ["a.png", "b.png"]
    assert {s.path.name: s.reason for s in ds.skipped} == {
        "gone.png": "file not found (listed in list.csv row 4)",
        "c.jpg": "empty file (0 bytes) (listed in list.csv row 5)",
        "clip.mp4": "video files are not supported in a CSV manifest (listed in list.csv row 6)",
    }


def test_celeba_json_naming_missing_images(tmp_path: Path) -> None:
    noise_image(tmp_path / "Data/test/7/live/1.png")
    noise_image(tmp_path / "Data/test/7/spoof/2.png", seed=1)
    noise_image(tmp_path / "Data/test/7/3.png", seed=2)  # no live/spoof folder
    labels = {"Data/test/7/spoof/2.png": [0] * 40 + [9, 1, 1, 1]}
    labels["Data/test/8/spoof/9.png"] = labels["Data/test/7/spoof/2.png"]
    (tmp_path / "metas/intra_test").mkdir(parents=True)
    (tmp_path / "metas/intra_test/test_label.json").write_text(json.dumps(labels))
    ds = load_celeba(tmp_path)
    assert sorted((r.id, r.attack_type) for r in ds.records) == [
        ("Data/test/7/live/1.png", None),
        ("Data/test/7/spoof/2.png", "phone"),
    ]
    assert {s.path: s.reason for s in ds.skipped} == {
        tmp_path
        / "Data/test/8/spoof/9.png": "listed in metas/intra_test/test_label.json but missing",
        tmp_path / "Data/test/7/3.png": "not at Data/{train,test}/<subject>/{live,spoof}/<image>",
    }
