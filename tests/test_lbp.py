"""LBP codes and histograms: equal to skimage's, known answers on synthetic images, real crops."""

from __future__ import annotations

import numpy as np
import pytest
from skimage.feature import local_binary_pattern

from benchmarks.datasets import load_dataset
from features.colour import ColourLBP, convert
from features.faces import FaceCropper
from features.lbp import LBPHistogram, MultiScaleLBP, to_grey
from features.lbp_codes import (
    MAPPINGS,
    _ror_bins,
    check_lbp_params,
    lbp_codes,
    lbp_histogram,
    lbp_histograms,
    n_bins,
)


def rgb(grey: np.ndarray) -> np.ndarray:
    return np.repeat(np.asarray(grey, dtype=np.uint8)[..., None], 3, axis=-1)


@pytest.fixture(scope="module")
def real_crops(seed600_dir) -> np.ndarray:
    records = load_dataset(seed600_dir).records
    picked = records[:3] + records[-3:]  # 3 bona fide, 3 attacks
    return FaceCropper(size=64).transform(np.asarray(picked, dtype=object))


@pytest.mark.parametrize(
    ("method", "flat_bin"), [("nri_uniform", 57), ("uniform", 8), ("default", 255)]
)
def test_flat_image_puts_all_mass_in_the_all_ones_bin(method, flat_bin):
    # every neighbour equals the centre, so every bit is 1 (skimage thresholds with >=)
    h = LBPHistogram(P=8, R=1, method=method, cache=False).fit_transform(
        rgb(np.full((1, 32, 32), 90))
    )
    assert h.shape == (1, n_bins(8, method))
    assert h[0, flat_bin] == 1.0
    assert h.sum() == pytest.approx(1.0)


def test_checkerboard_splits_mass_between_all_zeros_and_all_ones():
    # a bright pixel's 4-neighbours are dark and its diagonals interpolate below it: code 0;
    # a dark pixel sees brighter samples all round: all ones (bin 57 for nri_uniform, P=8)
    board = (np.indices((32, 32)).sum(axis=0) % 2) * 200 + 20
    h = LBPHistogram(P=8, R=1, method="nri_uniform", cache=False).fit_transform(rgb(board[None]))[0]
    assert h[0] == pytest.approx(0.5)
    assert h[57] == pytest.approx(0.5)


def test_histogram_matches_skimage_codes_on_the_interior():
    rng = np.random.default_rng(0)
    grey = rng.integers(0, 256, (40, 48), dtype=np.uint8)
    for P, R, method in [
        (8, 1, "nri_uniform"),
        (16, 2, "nri_uniform"),
        (8, 2, "uniform"),
        (12, 1.5, "default"),
    ]:
        m = int(np.ceil(R))
        codes = local_binary_pattern(grey, P, R, method).astype(int)[m:-m, m:-m]
        expected = np.bincount(codes.ravel(), minlength=n_bins(P, method)) / codes.size
        np.testing.assert_allclose(lbp_histogram(grey, P, R, method), expected)


def test_rotation_invariant_mappings_ignore_a_quarter_turn():
    rng = np.random.default_rng(1)
    grey = rng.integers(0, 256, (1, 48, 48), dtype=np.uint8)
    turned = np.rot90(grey, axes=(1, 2))
    for method in ("uniform", "ror"):
        ext = LBPHistogram(P=8, R=1, method=method, cache=False)
        np.testing.assert_allclose(ext.fit_transform(rgb(grey)), ext.transform(rgb(turned)))
    ext = LBPHistogram(P=8, R=1, method="nri_uniform", cache=False)
    assert not np.allclose(ext.fit_transform(rgb(grey)), ext.transform(rgb(turned)))


def test_ror_bins_are_compact():
    assert n_bins(8, "ror") == 36  # the 36 rotation-invariant 8-bit patterns
    rng = np.random.default_rng(2)
    h = lbp_histogram(rng.integers(0, 256, (64, 64), dtype=np.uint8), 8, 1, "ror")
    assert h.shape == (36,) and h.sum() == pytest.approx(1.0)


def test_grid_blocks_are_normalised_and_local():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (34, 66), dtype=np.uint8)
    img[:, :34] = 100  # left half flat, including the neighbours of its last column
    h = LBPHistogram(P=8, R=1, grid=(2, 2), cache=False).fit_transform(rgb(img[None]))[0]
    blocks = h.reshape(4, 59)
    np.testing.assert_allclose(blocks.sum(axis=1), 1.0)
    assert blocks[0, 57] == 1.0 and blocks[2, 57] == 1.0  # left blocks: flat bin only
    assert blocks[1, 57] < 0.5 and blocks[3, 57] < 0.5


def test_multiscale_concatenates_each_scale():
    rng = np.random.default_rng(4)
    crops = rng.integers(0, 256, (2, 32, 32, 3), dtype=np.uint8)
    ms = MultiScaleLBP(scales=((8, 1), (8, 2), (16, 2)), cache=False).fit_transform(crops)
    assert ms.shape == (2, 59 + 59 + 243)
    single = LBPHistogram(P=16, R=2, cache=False).fit_transform(crops)
    np.testing.assert_allclose(ms[:, 118:], single)


@pytest.mark.parametrize(
    ("params", "word"),
    [
        ({"method": "riu3"}, "method"),
        ({"P": 2}, "P"),
        ({"R": 0}, "R"),
        ({"grid": (0, 2)}, "grid"),
        ({"P": 24, "method": "default"}, "P <= 16"),
    ],
)
def test_bad_parameters_are_named(params, word):
    with pytest.raises(ValueError, match=word):
        LBPHistogram(**params).fit_transform(np.zeros((1, 16, 16, 3), np.uint8))


def test_radius_too_large_for_the_crop():
    with pytest.raises(ValueError, match="radius"):
        LBPHistogram(P=8, R=8, cache=False).fit_transform(np.zeros((1, 12, 12, 3), np.uint8))


def test_real_crops_shape_normalisation_determinism(real_crops):
    ext = MultiScaleLBP(grid=(2, 2), cache=False)
    a = ext.fit_transform(real_crops)
    assert a.shape == (6, 4 * 361)
    per_block = np.split(a, np.cumsum([4 * 59, 4 * 59]), axis=1)
    for part, bins in zip(per_block, (59, 59, 243), strict=True):
        np.testing.assert_allclose(part.reshape(6, 4, bins).sum(axis=2), 1.0)
    np.testing.assert_array_equal(a, MultiScaleLBP(grid=(2, 2), cache=False).transform(real_crops))
    assert len({row.tobytes() for row in a}) == 6  # different faces, different histograms


def few_levels(shape: tuple[int, int], seed: int) -> np.ndarray:
    """Random image of three adjacent grey levels: full of exact ties and flat patches."""
    return np.random.default_rng(seed).integers(100, 103, shape, dtype=np.uint8)


def images_for_codes() -> list[np.ndarray]:
    rng = np.random.default_rng(5)
    shapes = [(9, 9), (17, 30), (64, 64), (131, 70)]
    noise = [rng.integers(0, 256, shape, dtype=np.uint8) for shape in shapes]
    return noise + [few_levels(shape, i) for i, shape in enumerate(shapes)]


def refused(P: int, R: float, method: str) -> bool:
    try:
        check_lbp_params(P, R, method, (1, 1))
    except ValueError:
        return True
    return False


SCALES = [(P, R) for P in (4, 8, 16) for R in (1, 1.5, 2, 3)]


@pytest.mark.parametrize("method", MAPPINGS)
@pytest.mark.parametrize(("P", "R"), SCALES)
def test_codes_equal_skimage_on_random_images(P, R, method):
    if refused(P, R, method):
        pytest.skip("parameters the module refuses")
    for img in images_for_codes():
        np.testing.assert_array_equal(
            lbp_codes(img, P, R, method), local_binary_pattern(img, P, R, method)
        )


def test_codes_equal_skimage_on_real_crops(real_crops):
    channels = [to_grey(c) for c in real_crops]
    channels += [convert(c, space)[..., i] for c in real_crops[:2] for space in ("HSV", "YCbCr")
                 for i in range(3)]  # fmt: skip
    for method in MAPPINGS:
        for P, R in SCALES:
            for channel in channels:
                expected = local_binary_pattern(channel, P, R, method)
                np.testing.assert_array_equal(lbp_codes(channel, P, R, method), expected)


def test_large_P_falls_back_to_skimage():
    img = few_levels((30, 30), 7)
    for method in ("uniform", "nri_uniform"):
        expected = local_binary_pattern(img, 24, 3, method)
        np.testing.assert_array_equal(lbp_codes(img, 24, 3, method), expected)


def reference_histogram(channel, P, R, method, grid) -> np.ndarray:
    """The histogram from skimage's codes: interior pixels, compact ror bins, linspace blocks."""
    m = int(np.ceil(R))
    codes = local_binary_pattern(channel, P, R, method).astype(np.int64)[m:-m, m:-m]
    if method == "ror":
        codes = _ror_bins(P)[codes]
    h, w = codes.shape
    ys = np.linspace(0, h, grid[0] + 1).astype(int)
    xs = np.linspace(0, w, grid[1] + 1).astype(int)
    hists = []
    for r in range(grid[0]):
        for c in range(grid[1]):
            block = codes[ys[r] : ys[r + 1], xs[c] : xs[c + 1]]
            hist = np.bincount(block.ravel(), minlength=n_bins(P, method)).astype(np.float64)
            hists.append(hist / hist.sum())
    return np.concatenate(hists)


@pytest.mark.parametrize("method", MAPPINGS)
def test_extractors_equal_the_skimage_reference(real_crops, method):
    crops = np.concatenate([real_crops, rgb(few_levels((2 * 64, 64), 8).reshape(2, 64, 64))])
    scales = ((8, 1), (8, 2), (16, 2), (4, 2), (4, 1.5), (12, 3), (6, 3))  # shared bits
    for grid in ((1, 1), (3, 3), (2, 5)):
        lbp = LBPHistogram(P=8, R=1, method=method, grid=grid, cache=False).fit_transform(crops)
        multi = MultiScaleLBP(scales, method=method, grid=grid, cache=False).fit_transform(crops)
        colour = ColourLBP(P=8, R=1.5, method=method, grid=grid, cache=False).fit_transform(crops)
        for i, crop in enumerate(crops):
            grey = to_grey(crop)
            np.testing.assert_array_equal(lbp[i], reference_histogram(grey, 8, 1, method, grid))
            expected = [reference_histogram(grey, P, R, method, grid) for P, R in scales]
            np.testing.assert_array_equal(multi[i], np.concatenate(expected))
            channels = [convert(crop, s)[..., c] for s in ("HSV", "YCbCr") for c in range(3)]
            expected = [reference_histogram(ch, 8, 1.5, method, grid) for ch in channels]
            np.testing.assert_array_equal(colour[i], np.concatenate(expected))


def test_histograms_of_a_stack_are_those_of_each_channel():
    stack = np.stack(
        [
            few_levels((40, 50), 9),
            np.random.default_rng(9).integers(0, 256, (40, 50), dtype=np.uint8),
        ]
    )
    hists = lbp_histograms(stack, 16, 2, "uniform", (2, 3))
    each = [lbp_histogram(channel, 16, 2, "uniform", (2, 3)) for channel in stack]
    np.testing.assert_array_equal(hists, np.concatenate(each))


def test_bad_channels_are_named():
    with pytest.raises(ValueError, match="2-D"):
        lbp_codes(np.zeros((8, 8, 3), np.uint8), 8, 1, "uniform")
    with pytest.raises(ValueError, match="uint8"):
        lbp_histograms(np.zeros((1, 8, 8)), 8, 1, "uniform")
