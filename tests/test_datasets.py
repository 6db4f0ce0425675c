"""Dataset loaders on the real data (seed600, NUAA, the CelebA-Spoof sample) and on small
synthetic datasets with known answers: class folders, manifests, CelebA-Spoof, layout detection."""

from __future__ import annotations

import csv
import json
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from benchmarks.datasets import (
    LAYOUTS,
    check_dataset,
    detect_layout,
    load_celeba,
    load_dataset,
    load_folders,
    load_manifest,
    parse_label,
)
from features.images import image_size
from features.records import ATTACK, BONAFIDE, DatasetError, file_sha256


def write_image(path: Path, size: tuple[int, int] = (40, 30), value: int = 0) -> Path:
    """A small RGB image whose pixels all equal `value` (distinct values -> distinct hashes)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, (value, value, value)).save(path)
    return path


def write_csv(path: Path, rows: list[list[str]]) -> Path:
    with open(path, "w", newline="") as f:
        csv.writer(f).writerows(rows)
    return path


# ---------------------------------------------------------------- real data


def test_seed600(seed600_dir: Path) -> None:
    ds = load_dataset(seed600_dir)
    assert (ds.name, ds.layout, len(ds), ds.skipped) == ("seed600", "folders", 600, [])
    assert Counter(ds.labels) == {BONAFIDE: 300, ATTACK: 300}
    by_id = {r.id: r for r in ds.records}
    assert len(by_id) == 600
    assert by_id["Live/1.jpg"].label == BONAFIDE and by_id["Spoof/1.jpg"].label == ATTACK
    # The hashes agree with the published SHA256SUMS, and the three known duplicates share one.
    sums = dict(
        reversed(line.split(None, 1))
        for line in (seed600_dir / "SHA256SUMS").read_text().splitlines()
    )
    assert {r.id: r.sha256 for r in ds.records} == sums
    for a, b in [(193, 200), (275, 277), (287, 300)]:
        assert by_id[f"Spoof/{a}.jpg"].sha256 == by_id[f"Spoof/{b}.jpg"].sha256
    assert len({r.sha256 for r in ds.records}) == 597
    assert all(r.subject is None and r.attack_type is None for r in ds.records)
    check_dataset(ds, min_per_class=300)


def test_nuaa_subjects_from_manifest(nuaa_dir: Path) -> None:
    ds = load_dataset(nuaa_dir)
    assert (len(ds), ds.skipped) == (750, [])
    with open(nuaa_dir / "manifest.csv", newline="") as f:
        rows = {row["path"]: row for row in csv.DictReader(f)}
    assert {r.id for r in ds.records} == set(rows)
    for r in ds.records:
        row = rows[r.id]
        assert r.subject == row["subject"]
        assert r.split == row["official_split"]
        assert r.label == parse_label(row["label"])
        assert r.extra["session"] == row["session"] and "sha256" not in r.extra
    assert len({r.subject for r in ds.records}) == 16
    # The same file name in live/ and spoof/ gives two distinct records.
    names = Counter(r.path.name for r in ds.records)
    shared = [n for n, c in names.items() if c == 2]
    assert shared
    for name in shared:
        ids = {r.id for r in ds.records if r.path.name == name}
        assert ids == {f"live/{name}", f"spoof/{name}"}


def test_nuaa_subject_pattern(nuaa_dir: Path) -> None:
    ds = load_dataset(nuaa_dir, subject_pattern=r"^(\d{4})_")
    assert all(r.subject == r.path.name[:4] for r in ds.records)
    by_class = {lab: {r.subject for r in ds.records if r.label == lab} for lab in (0, 1)}
    assert "0013" in by_class[BONAFIDE] - by_class[ATTACK]
    assert "0016" in by_class[ATTACK] - by_class[BONAFIDE]


def test_celeba_sample(celeba_dir: Path) -> None:
    ds = load_dataset(celeba_dir)
    assert (ds.layout, len(ds), ds.skipped) == ("celeba", 22, [])
    labels = json.loads((celeba_dir / "metas/intra_test/test_label.json").read_text())
    names = {
        1: "photo",
        2: "poster",
        3: "A4",
        4: "face_mask",
        6: "region_mask",
        8: "pad",
        9: "phone",
    }
    for r in ds.records:
        folder = r.path.parent.name
        assert r.label == (ATTACK if folder == "spoof" else BONAFIDE)
        assert (r.split, r.subject) == ("test", r.path.parent.parent.name)
        assert r.sha256 == file_sha256(r.path)
        if r.id in labels:
            vec = labels[r.id]
            assert r.attack_type == names.get(vec[40])
            assert r.extra["illumination"] == str(vec[41])
        else:
            assert r.attack_type is None and "illumination" not in r.extra
        # The box: 224x224 coordinates scaled to the real size, inside the image.
        width, height = image_size(r.path)
        x, y, w, h = (
            float(v) for v in r.path.with_name(r.path.stem + "_BB.txt").read_text().split()[:4]
        )
        sx, sy = width / 224, height / 224
        assert r.box is not None
        bx, by, bw, bh = r.box
        assert bx >= 0 and by >= 0 and bx + bw <= width and by + bh <= height and bw > 0 and bh > 0
        assert abs(bx - max(0, x * sx)) <= 1 and abs(by - max(0, y * sy)) <= 1
        assert abs(bx + bw - min(width, (x + w) * sx)) <= 1
        assert abs(by + bh - min(height, (y + h) * sy)) <= 1
    labelled = [r for r in ds.records if r.id in labels]
    assert len(labelled) == 11
    assert sum(r.attack_type is not None for r in labelled) == sum(v[43] for v in labels.values())


# ---------------------------------------------------------------- class folders


def test_folder_aliases_attack_types_and_non_images(tmp_path: Path) -> None:
    write_image(tmp_path / "Genuine/a.png", value=1)
    write_image(tmp_path / "Genuine/more/b.jpg", value=2)
    write_image(tmp_path / "ATTACK/c.png", value=3)
    write_image(tmp_path / "ATTACK/print/d.png", value=4)
    write_image(tmp_path / "ATTACK/replay/deep/e.JPG", value=5)
    (tmp_path / "ATTACK/print/d_BB.txt").write_text("1 2 3 4 0.9\n")
    (tmp_path / "README").write_text("not an image")
    ds = load_dataset(tmp_path)
    assert (ds.layout, ds.skipped, ds.name) == ("folders", [], tmp_path.name)
    got = {r.id: (r.label, r.attack_type) for r in ds.records}
    assert got == {
        "Genuine/a.png": (BONAFIDE, None),
        "Genuine/more/b.jpg": (BONAFIDE, None),
        "ATTACK/c.png": (ATTACK, None),
        "ATTACK/print/d.png": (ATTACK, "print"),
        "ATTACK/replay/deep/e.JPG": (ATTACK, "replay"),
    }
    assert all(r.sha256 == file_sha256(r.path) for r in ds.records)


@pytest.mark.parametrize(
    ("live", "spoof"),
    [("live", "spoof"), ("REAL", "Fake"), ("bona_fide", "imposter"), ("BonaFide", "impostor")],
)
def test_folder_alias_names(tmp_path: Path, live: str, spoof: str) -> None:
    write_image(tmp_path / live / "1.png", value=1)
    write_image(tmp_path / spoof / "1.png", value=2)
    ds = load_folders(tmp_path)
    assert sorted((r.id, r.label) for r in ds.records) == sorted(
        [(f"{live}/1.png", BONAFIDE), (f"{spoof}/1.png", ATTACK)]
    )


def test_images_outside_class_folders_are_reported(tmp_path: Path) -> None:
    write_image(tmp_path / "live/1.png", value=1)
    write_image(tmp_path / "spoof/1.png", value=2)
    stray = write_image(tmp_path / "unsorted/2.png", value=3)
    loose = write_image(tmp_path / "3.png", value=4)
    ds = load_folders(tmp_path)
    assert len(ds) == 2
    assert {s.path for s in ds.skipped} == {stray, loose}
    assert all("class folder" in s.reason for s in ds.skipped)


def test_folder_manifest_columns(tmp_path: Path) -> None:
    a = write_image(tmp_path / "live/a.png", value=1)
    b = write_image(tmp_path / "spoof/b.png", value=2)
    write_image(tmp_path / "spoof/print/c.png", value=3)
    write_csv(
        tmp_path / "manifest.csv",
        [
            ["path", "label", "subject", "split", "attack_type", "sha256", "lighting"],
            ["live/a.png", "Live", "s1", "train", "", file_sha256(a), "dim"],
            ["spoof/b.png", "SPOOF", "s2", "Validation", "replay", file_sha256(b), "bright"],
            ["spoof/gone.png", "spoof", "s3", "test", "", "", ""],
        ],
    )
    ds = load_folders(tmp_path)
    by_id = {r.id: r for r in ds.records}
    assert (by_id["live/a.png"].subject, by_id["live/a.png"].split) == ("s1", "train")
    assert by_id["live/a.png"].extra == {"lighting": "dim"}
    assert (by_id["spoof/b.png"].split, by_id["spoof/b.png"].attack_type) == ("dev", "replay")
    # Not in the manifest: folder facts only.
    c = by_id["spoof/print/c.png"]
    assert (c.subject, c.split, c.attack_type) == (None, None, "print")
    [missing] = ds.skipped
    assert missing.path == tmp_path / "spoof/gone.png"
    assert missing.reason == "listed in manifest.csv row 4 but missing"
    # subject_pattern takes precedence over the manifest's subject column.
    ds = load_folders(tmp_path, subject_pattern=r"^(\w)\.png$")
    assert {r.id: r.subject for r in ds.records}["live/a.png"] == "a"


def test_folder_manifest_contradictions(tmp_path: Path) -> None:
    a = write_image(tmp_path / "live/a.png", value=1)
    write_image(tmp_path / "spoof/print/b.png", value=2)
    manifest = tmp_path / "manifest.csv"
    write_csv(manifest, [["path", "label"], ["live/a.png", "attack"]])
    with pytest.raises(DatasetError, match=r"live/a\.png: manifest\.csv row 2 says attack"):
        load_folders(tmp_path)
    write_csv(manifest, [["path", "label", "sha256"], ["live/a.png", "0", "ab" * 32]])
    with pytest.raises(DatasetError, match=rf"{a}: sha256 .* does not match"):
        load_folders(tmp_path)
    write_csv(manifest, [["path", "label", "attack_type"], ["spoof/print/b.png", "1", "replay"]])
    with pytest.raises(DatasetError, match="attack_type 'replay'"):
        load_folders(tmp_path)
    write_csv(manifest, [["path", "label", "split"], ["live/a.png", "0", "holdout"]])
    with pytest.raises(DatasetError, match="row 2: unknown split 'holdout'"):
        load_folders(tmp_path)
    write_csv(manifest, [["path", "subject"], ["live/a.png", "x"]])
    with pytest.raises(DatasetError, match="missing column"):
        load_folders(tmp_path)


def test_subject_pattern_errors(tmp_path: Path) -> None:
    write_image(tmp_path / "live/0001_a.png", value=1)
    write_image(tmp_path / "spoof/b.png", value=2)
    with pytest.raises(DatasetError, match=r"b\.png: subject_pattern .* does not match"):
        load_folders(tmp_path, subject_pattern=r"^(\d{4})_")
    with pytest.raises(DatasetError, match="not a valid regex"):
        load_folders(tmp_path, subject_pattern=r"(\d")
    ds = load_folders(tmp_path, subject_pattern=r"^\w")  # no group: the whole match
    assert sorted(r.subject for r in ds.records) == ["0", "b"]


# ---------------------------------------------------------------- CSV manifests


@pytest.mark.parametrize(
    ("value", "label"),
    [("0", 0), ("1", 1), ("BonaFide", 0), ("bona_fide", 0), (" live ", 0), ("Real", 0),
     ("genuine", 0), ("ATTACK", 1), ("spoof", 1), ("Fake", 1), ("imposter", 1)],
)  # fmt: skip
def test_parse_label(value: str, label: int) -> None:
    assert parse_label(value) == label


def test_csv_manifest(tmp_path: Path) -> None:
    write_image(tmp_path / "imgs/a.png", value=1)
    write_image(tmp_path / "imgs/b.png", value=2)
    csv_path = write_csv(
        tmp_path / "train.csv",
        [
            ["path", "label", "subject", "attack_type", "split", "camera"],
            ["imgs/a.png", "genuine", "p1", "", "train", "c1"],
            ["imgs/b.png", "Attack", "p2", "mask", "test", "c2"],
        ],
    )
    ds = load_dataset(csv_path)
    assert (ds.layout, ds.name, ds.root, ds.skipped) == (
        "manifest",
        f"{tmp_path.name}-train",
        tmp_path,
        [],
    )
    got = [(r.id, r.label, r.subject, r.attack_type, r.split, dict(r.extra)) for r in ds.records]
    assert got == [
        ("imgs/a.png", 0, "p1", None, "train", {"camera": "c1"}),
        ("imgs/b.png", 1, "p2", "mask", "test", {"camera": "c2"}),
    ]
    assert load_dataset(csv_path, subject_pattern=r"(\w)\.png").records[1].subject == "b"


def test_csv_manifest_bad_label_names_row_and_value(tmp_path: Path) -> None:
    write_image(tmp_path / "a.png")
    csv_path = write_csv(
        tmp_path / "m.csv", [["path", "label"], ["a.png", "0"], ["b.png", "maybe"]]
    )
    with pytest.raises(DatasetError, match=r"m\.csv row 3: unknown label 'maybe'"):
        load_manifest(csv_path)
    write_csv(csv_path, [["path", "label"], ["a.png", "0"], ["a.png", "1"]])
    with pytest.raises(DatasetError, match=r"row 3: a\.png is listed twice \(first at row 2\)"):
        load_manifest(csv_path)
    write_csv(csv_path, [["path", "label", "attack_type"], ["a.png", "live", "print"]])
    with pytest.raises(DatasetError, match="row 2: a bona fide row has attack_type 'print'"):
        load_manifest(csv_path)


def test_folder_with_only_a_manifest(tmp_path: Path) -> None:
    write_image(tmp_path / "x/a.png", value=1)
    write_image(tmp_path / "x/b.png", value=2)
    write_csv(tmp_path / "manifest.csv", [["path", "label"], ["x/a.png", "0"], ["x/b.png", "1"]])
    assert detect_layout(tmp_path) == "manifest"
    ds = load_dataset(tmp_path)
    assert (ds.name, ds.labels) == (tmp_path.name, [0, 1])


# ---------------------------------------------------------------- CelebA-Spoof layout


def make_celeba(root: Path) -> dict[str, list[int]]:
    """Two subjects in train/ and test/, a partial label JSON per split."""
    write_image(root / "Data/train/10/live/1.png", (448, 224), value=1)
    (root / "Data/train/10/live/1_BB.txt").write_text("10 20 100 50 0.99\n")
    write_image(root / "Data/train/10/spoof/2.jpg", (224, 112), value=2)
    (root / "Data/train/10/spoof/2_BB.txt").write_text("200 100 100 100 0.5\n")  # off the edge
    write_image(root / "Data/test/20/spoof/3.png", (100, 100), value=3)
    (root / "Data/test/20/spoof/3_BB.txt").write_text("not a box\n")
    write_image(root / "Data/test/20/live/4.png", (100, 100), value=4)  # no box file
    vec = [0] * 44
    train = {
        "Data/train/10/live/1.png": vec[:41] + [3, 1, 0],
        "Data/train/10/spoof/2.jpg": vec[:40] + [10, 2, 1, 1],
    }
    (root / "metas/intra_test").mkdir(parents=True)
    (root / "metas/intra_test/train_label.json").write_text(json.dumps(train))
    (root / "metas/intra_test/test_label.json").write_text("{}")
    return train


def test_celeba_layout(tmp_path: Path) -> None:
    make_celeba(tmp_path)
    ds = load_dataset(tmp_path)
    assert (ds.layout, ds.skipped) == ("celeba", [])
    by_id = {r.id: r for r in ds.records}
    live = by_id["Data/train/10/live/1.png"]
    assert (live.label, live.subject, live.split, live.attack_type) == (0, "10", "train", None)
    assert live.box == (20, 20, 200, 50)  # x, w doubled (448/224); y, h unchanged
    assert live.extra == {"illumination": "3", "environment": "1", "box_score": "0.99"}
    mask = by_id["Data/train/10/spoof/2.jpg"]
    assert (mask.label, mask.attack_type) == (1, "3D_mask")
    assert mask.box == (200, 50, 24, 50)  # x+w clipped to the 224-wide image; y, h halved
    unlisted = by_id["Data/test/20/spoof/3.png"]
    assert (unlisted.label, unlisted.attack_type, unlisted.split, unlisted.box) == (
        1,
        None,
        "test",
        None,
    )
    assert by_id["Data/test/20/live/4.png"].box is None


def test_celeba_label_contradicting_folder(tmp_path: Path) -> None:
    train = make_celeba(tmp_path)
    train["Data/train/10/live/1.png"] = [0] * 40 + [1, 1, 1, 1]
    (tmp_path / "metas/intra_test/train_label.json").write_text(json.dumps(train))
    with pytest.raises(DatasetError, match=r"live/1\.png: .*train_label\.json labels it attack"):
        load_celeba(tmp_path)
    (tmp_path / "metas/intra_test/train_label.json").write_text('{"Data/x.png": [1, 2]}')
    with pytest.raises(DatasetError, match=r"train_label\.json: the label of Data/x\.png is not"):
        load_celeba(tmp_path)
    (tmp_path / "metas/intra_test/train_label.json").write_text("{not json")
    with pytest.raises(DatasetError, match=r"train_label\.json: cannot read"):
        load_celeba(tmp_path)


# ---------------------------------------------------------------- detection and checks


def test_detect_layout(tmp_path: Path) -> None:
    assert LAYOUTS == ("folders", "celeba", "msu", "replay-attack", "manifest")
    (tmp_path / "c/Data").mkdir(parents=True)
    (tmp_path / "c/metas").mkdir()
    (tmp_path / "m/scene01").mkdir(parents=True)
    (tmp_path / "m2").mkdir()
    (tmp_path / "m2/test_sub_list.txt").write_text("1\n")
    (tmp_path / "f/Live").mkdir(parents=True)
    (tmp_path / "x.csv").write_text("path,label\n")
    got = {n: detect_layout(tmp_path / n) for n in ["c", "m", "m2", "f", "x.csv"]}
    assert got == {"c": "celeba", "m": "msu", "m2": "msu", "f": "folders", "x.csv": "manifest"}
    (tmp_path / "other/pics").mkdir(parents=True)
    with pytest.raises(
        DatasetError, match=r"other: cannot tell the dataset layout \(found: pics/\)"
    ):
        load_dataset(tmp_path / "other")
    with pytest.raises(DatasetError, match="nowhere: no such file or folder"):
        load_dataset(tmp_path / "nowhere")
    with pytest.raises(DatasetError, match="unknown layout 'zip'"):
        load_dataset(tmp_path / "f", layout="zip")
    with pytest.raises(DatasetError, match="subject_pattern is not used by the celeba layout"):
        load_dataset(tmp_path / "c", subject_pattern="(.*)")


def test_check_dataset(tmp_path: Path) -> None:
    for i in range(3):
        write_image(tmp_path / f"live/{i}.png", value=i)
    (tmp_path / "spoof").mkdir()
    ds = load_dataset(tmp_path)
    with pytest.raises(DatasetError, match=r"only bona fide images \(3\) were found, no attack"):
        check_dataset(ds)
    write_image(tmp_path / "spoof/0.png", value=9)
    ds = load_dataset(tmp_path)
    check_dataset(ds)
    with pytest.raises(DatasetError, match="3 bona fide and 1 attack images, fewer than the 2"):
        check_dataset(ds, min_per_class=2)
    assert np.array_equal(ds.labels, [0, 0, 0, 1])


def test_the_same_bytes_under_both_classes_are_left_out_and_listed(
    tmp_path: Path, seed600_dir: Path
) -> None:
    """A file filed as bona fide and as attack has one wrong label: every copy is dropped."""
    for folder, names in (("Live", ["1.jpg", "2.jpg", "3.jpg"]), ("Spoof", ["1.jpg", "2.jpg"])):
        (tmp_path / folder).mkdir()
        for name in names:
            (tmp_path / folder / name).symlink_to(seed600_dir / folder / name)
    (tmp_path / "Spoof" / "copy-of-live-3.jpg").symlink_to(seed600_dir / "Live" / "3.jpg")
    ds = load_dataset(tmp_path)
    assert sorted(r.id for r in ds.records) == ["Live/1.jpg", "Live/2.jpg", "Spoof/1.jpg",
                                                "Spoof/2.jpg"]  # fmt: skip
    reasons = {s.path.name: s.reason for s in ds.skipped}
    assert set(reasons) == {"3.jpg", "copy-of-live-3.jpg"}
    assert "both bona fide and attack" in reasons["3.jpg"]
    assert "copy-of-live-3.jpg" in reasons["3.jpg"]  # names the copy under the other label
