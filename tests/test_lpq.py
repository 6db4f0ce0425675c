"""LPQ: codes against a direct scipy convolution of the STFT kernels, whitening, parameters."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.signal import convolve2d

from benchmarks.datasets import load_dataset
from features.colour import convert
from features.faces import FaceCropper
from features.lpq import LPQ, ZERO_TOLERANCE, lpq_codes, lpq_histogram, whitening


def _reference_components(channel: np.ndarray, M: int) -> np.ndarray:
    """(H-M+1, W-M+1, 8): Re/Im of the STFT at (a,0), (0,a), (a,a), (a,-a), a = 1/M, written
    out from the paper with complex kernels and scipy's 'valid' convolution (as lpq.m)."""
    x = np.arange(M) - (M - 1) // 2
    w0, w1 = np.ones(M), np.exp(-2j * np.pi * x / M)
    kernels = [np.outer(w0, w1), np.outer(w1, w0), np.outer(w1, w1), np.outer(w1, np.conj(w1))]
    F = [convolve2d(channel.astype(float), k, mode="valid") for k in kernels]
    return np.stack([part for f in F for part in (f.real, f.imag)], axis=-1)


def _reference_codes(channel: np.ndarray, M: int, decorrelate: bool) -> np.ndarray:
    comp = _reference_components(channel, M)
    if decorrelate:
        comp = comp @ whitening(M)
    return ((comp > ZERO_TOLERANCE) * (1 << np.arange(8))).sum(axis=-1)


@pytest.mark.parametrize("decorrelate", [False, True])
@pytest.mark.parametrize("M", [3, 5, 7])
def test_codes_match_direct_convolution_on_random_images(M, decorrelate):
    rng = np.random.default_rng(M)
    channel = rng.integers(0, 256, (19, 24)).astype(np.uint8)
    got = lpq_codes(channel, M, decorrelate)
    assert got.shape == (19 - M + 1, 24 - M + 1)
    np.testing.assert_array_equal(got, _reference_codes(channel, M, decorrelate))
    assert np.unique(got).size > 50  # a random image uses many of the 256 codes


def test_whitening_decorrelates_the_components_under_the_model():
    M, rho = 5, 0.9
    # covariance of the 8 components for pixels correlated as rho^distance, built independently
    x = np.arange(M) - (M - 1) // 2
    w1 = np.exp(-2j * np.pi * x / M)
    q = [np.outer(np.ones(M), w1), np.outer(w1, np.ones(M)), np.outer(w1, w1)]
    q.append(np.outer(w1, np.conj(w1)))
    K = np.array([part.ravel() for f in q for part in (f.real, f.imag)])
    pos = np.array([(i, j) for i in range(M) for j in range(M)])
    C = rho ** np.linalg.norm(pos[:, None] - pos[None], axis=-1)
    V = whitening(M, rho)
    white = V.T @ (K @ C @ K.T) @ V
    off = white - np.diag(np.diag(white))
    assert np.abs(off).max() < 1e-6 * np.abs(np.diag(white)).max()
    np.testing.assert_allclose(V.T @ V, np.eye(8), atol=1e-10)  # a rotation


@pytest.fixture(scope="module")
def real_crops(seed600_dir) -> np.ndarray:
    records = load_dataset(seed600_dir).records
    return FaceCropper(size=64).transform(np.asarray(records[:2] + records[-2:], dtype=object))


@pytest.mark.parametrize("M", [3, 7])
def test_extractor_on_real_crops_matches_the_reference(real_crops, M):
    X = LPQ(window_size=M, cache=False).fit_transform(real_crops)
    assert X.shape == (4, 6 * 256)
    np.testing.assert_allclose(X.reshape(4, 6, 256).sum(axis=2), 1.0)
    for i, crop in enumerate(real_crops):
        for c, channel in enumerate(
            [*np.moveaxis(convert(crop, "HSV"), -1, 0), *np.moveaxis(convert(crop, "YCbCr"), -1, 0)]
        ):
            codes = _reference_codes(channel, M, decorrelate=True)
            expected = np.bincount(codes.ravel(), minlength=256) / codes.size
            np.testing.assert_allclose(X[i].reshape(6, 256)[c], expected, atol=1e-12)


def test_flat_regions_get_one_code_not_rounding_noise():
    flat = np.full((12, 12), 200, np.uint8)
    for decorrelate in (False, True):
        h = lpq_histogram(flat, 3, decorrelate)
        assert h[0] == 1.0  # every coefficient is 0: no bit set


@pytest.mark.parametrize(
    ("params", "named"),
    [
        ({"window_size": 4}, "window_size"),
        ({"window_size": True}, "window_size"),
        ({"window_size": 1}, "window_size"),
        ({"decorrelate": "yes"}, "decorrelate"),
        ({"colour_spaces": ()}, "colour_spaces"),
    ],
)
def test_bad_parameters_raise_naming_them(params, named):
    with pytest.raises(ValueError, match=named):
        LPQ(cache=False, **params).fit(np.zeros((1, 16, 16, 3), np.uint8))


def test_window_larger_than_the_crop_is_a_clear_error():
    with pytest.raises(ValueError, match="window_size=11 is too large"):
        LPQ(window_size=11, cache=False).fit_transform(np.zeros((1, 8, 8, 3), np.uint8))
