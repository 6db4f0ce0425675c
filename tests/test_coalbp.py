"""CoALBP: codes and co-occurrences against a brute-force loop, histogram sums, parameters."""

from __future__ import annotations

import numpy as np
import pytest

from benchmarks.datasets import load_dataset
from features.coalbp import (
    BINS_PER_SCALE,
    DIRECTIONS,
    NEIGHBOURS,
    CoALBP,
    coalbp_histogram,
)
from features.colour import convert
from features.faces import FaceCropper


def _brute_force(channel: np.ndarray, R: int, D: int, neighbours: str) -> np.ndarray:
    """CoALBP of one channel with plain loops over every pixel pair, straight from the paper."""
    h, w = channel.shape
    x = channel.astype(int)

    def code(y: int, c: int) -> int:
        return sum(
            (x[y + dy * R, c + dx * R] >= x[y, c]) << bit
            for bit, (dy, dx) in enumerate(NEIGHBOURS[neighbours])
        )

    inside = [(y, c) for y in range(R, h - R) for c in range(R, w - R)]
    codes = {p: code(*p) for p in inside}
    out = []
    for dy, dx in DIRECTIONS:
        counts = np.zeros((16, 16))
        for (y, c), a in codes.items():
            b = codes.get((y + dy * D, c + dx * D))
            if b is not None:
                counts[a, b] += 1
        out.append(counts.ravel() / counts.sum())
    return np.concatenate(out)


@pytest.mark.parametrize("neighbours", ["plus", "cross"])
@pytest.mark.parametrize(("R", "D"), [(1, 2), (2, 4), (1, 1), (3, 2)])
def test_matches_brute_force_on_random_images(neighbours, R, D):
    rng = np.random.default_rng(R * 10 + D)
    # few grey levels, so that ties (neighbour == centre, bit set) occur often
    channel = rng.integers(0, 4, (17, 21)).astype(np.uint8)
    got = coalbp_histogram(channel, ((R, D),), neighbours)
    np.testing.assert_allclose(got, _brute_force(channel, R, D, neighbours), atol=1e-12)


@pytest.fixture(scope="module")
def real_crops(seed600_dir) -> np.ndarray:
    records = load_dataset(seed600_dir).records
    return FaceCropper(size=64).transform(np.asarray(records[:2] + records[-2:], dtype=object))


def test_extractor_on_real_crops_concatenates_channels_and_scales(real_crops):
    X = CoALBP(cache=False).fit_transform(real_crops)
    assert X.shape == (4, 6 * 3 * BINS_PER_SCALE)
    # every (channel, scale, direction) histogram sums to 1
    np.testing.assert_allclose(X.reshape(4, -1, 256).sum(axis=2), 1.0)
    # the V channel of HSV (third channel) at scale (2, 4), straight from the brute force
    v = convert(real_crops[1], "HSV")[..., 2]
    block = X[1].reshape(6, 3, BINS_PER_SCALE)[2, 1]
    np.testing.assert_allclose(block, _brute_force(v, 2, 4, "plus"), atol=1e-12)
    assert not np.allclose(X[0], X[-1])  # a bona fide and an attack crop differ


def test_flat_image_has_all_mass_on_the_all_ones_pair():
    flat = np.full((1, 20, 20, 3), 77, np.uint8)
    h = CoALBP(colour_spaces=("RGB",), scales=((1, 2),), cache=False).fit_transform(flat)[0]
    per_direction = h.reshape(3, 4, 256)
    assert np.all(per_direction[..., 16 * 15 + 15] == 1.0)  # every neighbour >= centre


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"scales": ((0, 2),)}, "scales"),
        ({"scales": ((1, 2, 3),)}, "scales"),
        ({"scales": ()}, "scales"),
        ({"scales": ((1.5, 2),)}, "scales"),
        ({"neighbours": "star"}, "neighbours"),
        ({"neighbours": ["plus"]}, "neighbours"),
        ({"colour_spaces": ("HSV", "XYZ")}, "colour space"),
        ({"colour_spaces": "HSV"}, "colour_spaces"),
    ],
)
def test_bad_parameters_raise_naming_them(params, named):
    crops = np.zeros((1, 16, 16, 3), np.uint8)
    with pytest.raises(ValueError, match=named):
        CoALBP(cache=False, **params).fit(crops)


def test_scale_too_large_for_the_crop_is_a_clear_error():
    crops = np.zeros((1, 12, 12, 3), np.uint8)  # R=1 leaves a 10x10 code map
    assert CoALBP(scales=((1, 9),), cache=False).fit_transform(crops).shape == (1, 6 * 1024)
    with pytest.raises(ValueError, match="D=10 is too large"):
        CoALBP(scales=((1, 10),), cache=False).fit_transform(crops)
    with pytest.raises(ValueError, match="R=6 is too large"):
        CoALBP(scales=((6, 1),), cache=False).fit_transform(crops)
