"""Image distortion features: specular spot, blur, chromatic moments, colour diversity."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.stats import skew
from skimage.measure import blur_effect

from benchmarks.datasets import load_dataset
from features.distortion import (
    DistortionFeatures,
    blur_features,
    chromatic_moments,
    colour_diversity,
    crete_blur,
    edge_bin_shares,
    moments,
    specular_features,
    specular_mask,
)
from features.faces import FaceCropper
from features.lbp import to_grey


@pytest.fixture(scope="module")
def real_crops(seed600_dir) -> np.ndarray:
    records = load_dataset(seed600_dir).records
    picked = records[9:12] + records[-12:-9]
    return FaceCropper(size=64).transform(np.asarray(picked, dtype=object))


def skin_with_highlight(strength: float) -> tuple[np.ndarray, np.ndarray]:
    """Flat skin-coloured crop plus a white Gaussian highlight (equal in all channels)."""
    y, x = np.mgrid[0:64, 0:64]
    r2 = (y - 20) ** 2 + (x - 40) ** 2
    spot = strength * np.exp(-r2 / (2 * 4.0**2))
    crop = np.clip(np.array([190, 120, 90])[None, None, :] + spot[..., None], 0, 255)
    return np.round(crop).astype(np.uint8), r2


def test_specular_highlight_is_found_where_it_is():
    crop, r2 = skin_with_highlight(120)
    mask = specular_mask(crop)
    assert mask.any()
    assert np.all(r2[mask] < 12**2)  # every specular pixel lies on the highlight
    share, mean, var = specular_features(crop, (1.5, 4.0))
    assert share == pytest.approx(mask.mean()) and mean > 0 and var >= 0


def test_no_highlight_no_specular_pixels():
    crop, _ = skin_with_highlight(0)
    assert not specular_mask(crop).any()
    np.testing.assert_array_equal(specular_features(crop, (1.5, 4.0)), 0)


def test_blur_scores_grow_with_blur():
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)
    blurred = cv2.GaussianBlur(sharp, (0, 0), 1.5)
    assert np.all(blur_features(blurred) > blur_features(sharp))


def test_chromatic_moments_of_a_uniform_colour():
    red = np.zeros((16, 16, 3), np.uint8)
    red[..., 0] = 255
    m = chromatic_moments(red, 32).reshape(3, 5)  # rows H, S, V: mean, std, skew, low, high
    np.testing.assert_allclose(m[:, :3], [[0, 0, 0], [1, 0, 0], [1, 0, 0]], atol=1e-6)
    assert m[0, 3] == 1.0 and m[1, 4] == 1.0 and m[2, 4] == 1.0


def test_chromatic_skewness_sign():
    v = np.full((10, 10), 50, np.uint8)
    v[0, :3] = 250  # a few bright pixels: a long right tail
    crop = np.repeat(v[..., None], 3, axis=2)
    assert chromatic_moments(crop, 32).reshape(3, 5)[2, 2] > 0


def test_colour_diversity_counts_quantised_colours():
    crop = np.zeros((10, 10, 3), np.uint8)
    crop[:5] = (255, 0, 0)  # 50 pixels
    crop[5:8] = (0, 255, 0)  # 30 pixels
    crop[8:, :] = (0, 0, 4)  # 20 pixels that quantise to black at 32 levels
    crop[8:, 5:] = (0, 0, 3)
    d = colour_diversity(crop, 32, 5)
    np.testing.assert_allclose(d, [0.5, 0.3, 0.2, 0, 0, 3 / 100])


def test_layout_and_length():
    rng = np.random.default_rng(1)
    crops = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    f = DistortionFeatures(cache=False).fit_transform(crops)
    assert f.shape == (2, 3 + 2 + 15 + 101)  # Wen et al.'s 121 values
    assert DistortionFeatures(n_top_colours=10, cache=False).fit_transform(crops).shape == (2, 31)


def test_flat_crop_is_finite():
    f = DistortionFeatures(cache=False).fit_transform(np.full((1, 32, 32, 3), 128, np.uint8))
    assert np.all(np.isfinite(f))


@pytest.mark.parametrize(
    ("params", "word"),
    [
        ({"specular_range": (4, 1.5)}, "specular_range"),
        ({"hist_bins": 1}, "hist_bins"),
        ({"colour_levels": 256}, "colour_levels"),
        ({"n_top_colours": 0}, "n_top_colours"),
    ],
)
def test_bad_parameters_are_named(params, word):
    with pytest.raises(ValueError, match=word):
        DistortionFeatures(**params).fit(np.zeros((1, 16, 16, 3), np.uint8))


def test_real_crops(real_crops):
    ext = DistortionFeatures(cache=False)
    a = ext.fit_transform(real_crops)
    assert a.shape == (6, 121) and np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, ext.transform(real_crops))
    top = a[:, 20:120]
    assert np.all(np.diff(top, axis=1) <= 0)  # most frequent colours first
    assert np.all(top.sum(axis=1) <= 1 + 1e-9)


def varied_crops(real_crops: np.ndarray) -> list[np.ndarray]:
    """Real crops, noise of odd sizes, few-level crops full of ties and a blocky crop."""
    rng = np.random.default_rng(11)
    crops = list(real_crops)
    crops += [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for h, w in [(9, 13), (37, 64)]]
    crops += [rng.integers(100, 103, (40, 33, 3), dtype=np.uint8)]
    crops += [np.kron(rng.integers(0, 256, (8, 8, 3)), np.ones((6, 6, 1))).astype(np.uint8)]
    return crops


def test_crete_blur_equals_skimage(real_crops):
    """Integer Sobel responses and moving sums give skimage's metric up to float rounding,
    also where it is only the floor on zero gradients (a flat inside: 1; a lone block: ~1e-12)."""
    block = np.pad(np.full((4, 4), 9, np.uint8), 30)
    greys = [to_grey(crop) for crop in varied_crops(real_crops)] + [block, block[26:-26, 26:-26]]
    for grey in greys:
        for h_size in (11, 5, 4):
            expected = blur_effect(grey, h_size=h_size)
            assert crete_blur(grey, h_size) == pytest.approx(expected, rel=1e-12, abs=1e-15)


def test_moments_and_edge_shares_equal_scipy_and_numpy(real_crops):
    for crop in varied_crops(real_crops):
        v = cv2.cvtColor(crop, cv2.COLOR_RGB2HSV).reshape(-1, 3).T / np.array([[179], [255], [255]])
        v = np.ascontiguousarray(v)
        mean, std, skewness = moments(v)
        assert list(mean) == [np.mean(row) for row in v]
        assert list(std) == [np.std(row) for row in v]
        assert list(skewness) == [skew(row) for row in v]
        for bins in (2, 32, 256):
            first, last = edge_bin_shares(v, bins)
            for i, row in enumerate(v):
                hist, _ = np.histogram(row, bins=bins, range=(0.0, 1.0))
                assert (first[i], last[i]) == (hist[0] / row.size, hist[-1] / row.size)


def test_chromatic_and_specular_features_equal_plain_numpy_and_scipy(real_crops):
    """The shared-deviation moments and the single selection of specular pixels give exactly
    the values of the plain per-statistic computation."""
    crops = varied_crops(real_crops) + [np.full((16, 16, 3), 80, np.uint8)]
    for crop in crops:
        hsv = cv2.cvtColor(crop.astype(np.float32) / 255.0, cv2.COLOR_RGB2HSV).reshape(-1, 3).T
        rows = hsv.astype(np.float64) / np.array([[360.0], [1.0], [1.0]])
        expected = []
        for row in rows:
            hist, _ = np.histogram(row, bins=32, range=(0.0, 1.0))
            with np.errstate(divide="ignore", invalid="ignore"):
                sk = skew(row) if np.std(row) > 1e-12 else 0.0
            expected += [np.mean(row), np.std(row), sk, hist[0] / row.size, hist[-1] / row.size]
        np.testing.assert_array_equal(chromatic_moments(crop, 32), expected)
        lowest = crop.astype(np.float64).min(axis=2) / 255.0
        s = np.maximum(lowest - lowest.mean(), 0.0)
        mask = (s > 1.5 * s.mean()) & (s <= 4.0 * s.mean())
        plain = [mask.mean(), s[mask].mean(), s[mask].var()] if mask.any() else [0, 0, 0]
        np.testing.assert_array_equal(specular_features(crop, (1.5, 4.0)), plain)


def test_colour_diversity_equals_a_full_sort(real_crops):
    for crop in varied_crops(real_crops):
        for levels, n_top in [(32, 100), (4, 100), (2, 3)]:
            q = crop.astype(np.int64) * levels // 256
            codes = (q[..., 0] * levels + q[..., 1]) * levels + q[..., 2]
            counts = np.bincount(codes.ravel(), minlength=levels**3)
            top = np.sort(counts)[::-1][:n_top] / codes.size
            expected = np.concatenate([top, [np.count_nonzero(counts) / codes.size]])
            np.testing.assert_array_equal(colour_diversity(crop, levels, n_top), expected)
