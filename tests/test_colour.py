"""Colour-texture LBP: colour conversions, per-channel known answers, real crops."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.datasets import load_dataset
from features.colour import ColourLBP, convert
from features.faces import FaceCropper
from features.lbp import LBPHistogram


@pytest.fixture(scope="module")
def real_crops(seed600_dir) -> np.ndarray:
    records = load_dataset(seed600_dir).records
    picked = records[3:6] + records[-6:-3]
    return FaceCropper(size=64).transform(np.asarray(picked, dtype=object))


def test_ycbcr_is_bt601_in_y_cb_cr_order():
    red = np.zeros((1, 1, 3), np.uint8)
    red[..., 0] = 255
    y, cb, cr = convert(red, "YCbCr")[0, 0].astype(int)
    assert y == pytest.approx(0.299 * 255, abs=1)
    assert cb == pytest.approx(128 - 0.168736 * 255, abs=1)
    assert cr == 255  # 128 + 0.5 * 255, saturated


def test_grey_texture_has_flat_chroma_histograms():
    # a grey image with texture: Y carries it, Cb and Cr are constant (all mass in the flat bin)
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (1, 32, 32), dtype=np.uint8)
    crops = np.repeat(grey[..., None], 3, axis=3)
    h = ColourLBP(colour_spaces=("YCbCr",), cache=False).fit_transform(crops)[0].reshape(3, 59)
    assert h[0, 57] < 0.2
    assert h[1, 57] == 1.0 and h[2, 57] == 1.0


def test_chroma_texture_is_seen_only_in_colour():
    # equal-luma red/green checkerboard: flat in grey, a checkerboard in hue
    board = np.indices((32, 32)).sum(axis=0) % 2 == 1
    crop = np.zeros((1, 32, 32, 3), np.uint8)
    crop[0][board] = (200, 0, 0)
    crop[0][~board] = (0, 102, 0)
    assert np.unique(convert(crop[0], "grey")).size == 1  # both colours have luma 60
    grey = ColourLBP(colour_spaces=("grey",), cache=False).fit_transform(crop)[0]
    hsv = ColourLBP(colour_spaces=("HSV",), cache=False).fit_transform(crop)[0].reshape(3, 59)
    assert grey[57] == 1.0  # flat in grey: every pixel in the all-ones bin
    assert hsv[0, 0] == pytest.approx(0.5) and hsv[0, 57] == pytest.approx(0.5)


def test_shapes_and_grey_equivalence():
    rng = np.random.default_rng(1)
    crops = rng.integers(0, 256, (3, 24, 24, 3), dtype=np.uint8)
    assert ColourLBP(cache=False).fit_transform(crops).shape == (3, 6 * 59)
    lab = ColourLBP(colour_spaces=("Lab", "RGB"), P=8, R=2, method="uniform", cache=False)
    assert lab.fit_transform(crops).shape == (3, 6 * 10)
    np.testing.assert_allclose(
        ColourLBP(colour_spaces=("grey",), R=2, cache=False).fit_transform(crops),
        LBPHistogram(R=2, cache=False).fit_transform(crops),
    )


@pytest.mark.parametrize("spaces", [("XYZ",), "HSV", ()])
def test_bad_colour_space_is_named(spaces):
    with pytest.raises(ValueError, match="colour"):
        ColourLBP(colour_spaces=spaces).fit(np.zeros((1, 16, 16, 3), np.uint8))


def test_real_crops(real_crops):
    ext = ColourLBP(cache=False)
    a = ext.fit_transform(real_crops)
    assert a.shape == (6, 354)
    np.testing.assert_allclose(a.reshape(6, 6, 59).sum(axis=2), 1.0)
    np.testing.assert_array_equal(a, ext.transform(real_crops))
