"""Metadata audit: JPEG quality estimates on files we encode, real seed600 headers, bad input."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from benchmarks.datasets import load_dataset
from features.images import ImageError, image_size
from features.metadata import FEATURE_NAMES, MetadataFeatures, estimate_jpeg_quality, file_metadata
from features.records import Presentation


def record(path, label=0) -> Presentation:
    return Presentation(id=path.name, path=path, label=label, sha256=path.name)


@pytest.fixture(scope="module")
def noise_image() -> Image.Image:
    rng = np.random.default_rng(0)
    return Image.fromarray(rng.integers(0, 256, (48, 80, 3), dtype=np.uint8))


@pytest.mark.parametrize("quality", [10, 35, 50, 75, 90, 100])
def test_jpeg_quality_is_recovered_from_pillow_files(tmp_path, noise_image, quality):
    path = tmp_path / f"q{quality}.jpg"
    noise_image.save(path, quality=quality)
    width, height, aspect, bpp, q = file_metadata(path)
    assert (width, height) == (80, 48)
    assert aspect == pytest.approx(80 / 48)
    assert bpp == pytest.approx(path.stat().st_size / (80 * 48))
    assert q == quality


def test_grey_jpeg_with_one_table(tmp_path, noise_image):
    path = tmp_path / "grey.jpg"
    noise_image.convert("L").save(path, quality=60)
    with Image.open(path) as im:
        assert len(im.quantization) == 1
    assert file_metadata(path)[4] == 60


def test_lossless_files_get_quality_100(tmp_path, noise_image):
    path = tmp_path / "x.png"
    noise_image.save(path)
    assert file_metadata(path)[4] == 100


def test_estimate_rejects_malformed_tables():
    with pytest.raises(ValueError, match="64"):
        estimate_jpeg_quality({0: [1, 2, 3]})
    with pytest.raises(ValueError, match="no quantisation"):
        estimate_jpeg_quality({})


def test_transformer_over_real_records(seed600_dir):
    records = load_dataset(seed600_dir).records
    picked = records[:4] + records[-4:]
    X = np.asarray(picked, dtype=object)
    F = MetadataFeatures().fit_transform(X)
    assert F.shape == (8, 5)
    assert list(MetadataFeatures().fit(X).get_feature_names_out()) == list(FEATURE_NAMES)
    for row, r in zip(F, picked, strict=True):
        assert tuple(row[:2]) == image_size(r.path)
        assert 1 <= row[4] <= 100 and row[3] > 0


def test_the_size_shortcut_is_visible_in_seed600(seed600_dir):
    # the README's trap: metadata alone separates seed600's classes far above chance
    records = load_dataset(seed600_dir).records
    picked = records[:60] + records[-60:]
    F = MetadataFeatures().fit_transform(np.asarray(picked, dtype=object))
    y = [r.label for r in picked]
    model = make_pipeline(StandardScaler(), LogisticRegression())
    assert cross_val_score(model, F, y, cv=5, scoring="roc_auc").mean() > 0.85


def test_bad_input_names_the_file(tmp_path):
    bad = tmp_path / "not-an-image.jpg"
    bad.write_text("hello")
    with pytest.raises(ImageError, match="not-an-image.jpg"):
        MetadataFeatures().fit_transform([record(bad)])
    with pytest.raises(ValueError, match="not a record"):
        MetadataFeatures().fit_transform(np.zeros((2, 8, 8, 3)))
    with pytest.raises(ImageError, match="video"):
        frame = Presentation(id="v#1", path=bad, label=0, sha256="v#1", video="v", frame=1)
        MetadataFeatures().fit_transform([frame])
