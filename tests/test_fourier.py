"""Fourier spectrum features: sinusoid peaks in the right band, blur lowers high frequencies."""

from __future__ import annotations

import cv2
import numpy as np
import pytest
from skimage.filters import window

from benchmarks.datasets import load_dataset
from features.faces import FaceCropper
from features.fourier import FourierSpectrum, _window, radial_frequency, to_grey


@pytest.fixture(scope="module")
def real_crops(seed600_dir) -> np.ndarray:
    records = load_dataset(seed600_dir).records
    picked = records[6:9] + records[-9:-6]
    return FaceCropper(size=64).transform(np.asarray(picked, dtype=object))


def sinusoid(cycles: float, size: int = 64, angle: float = 0.0) -> np.ndarray:
    """Grey sinusoid with `cycles` periods across the crop, as an RGB uint8 crop."""
    y, x = np.mgrid[0:size, 0:size] / size
    phase = 2 * np.pi * cycles * (x * np.cos(angle) + y * np.sin(angle))
    grey = np.round(128 + 100 * np.sin(phase)).astype(np.uint8)
    return np.repeat(grey[None, ..., None], 3, axis=3)


@pytest.mark.parametrize("window", ["hann", None])
@pytest.mark.parametrize(("cycles", "angle"), [(4, 0.0), (12, np.pi / 2), (16, 0.0), (26, 0.0)])
def test_sinusoid_peaks_in_its_radial_band(cycles, angle, window):
    n_bands = 16
    # `cycles` periods over 64 pixels: normalised radius cycles / 32 (Nyquist = 32 cycles)
    expected_band = int(cycles / 32 * n_bands)
    f = FourierSpectrum(n_bands=n_bands, window=window, cache=False).fit_transform(
        sinusoid(cycles, angle=angle)
    )[0]
    profile = f[:n_bands]
    assert int(np.argmax(profile)) == expected_band


def test_high_frequency_ratios_drop_with_blur():
    rng = np.random.default_rng(0)
    sharp = rng.integers(0, 256, (1, 64, 64, 3), dtype=np.uint8)
    blurred = cv2.GaussianBlur(sharp[0], (0, 0), 2.0)[None]
    ext = FourierSpectrum(hf_cutoffs=(0.25, 0.5), dog_sigmas=(), cache=False)
    a, b = ext.fit_transform(sharp)[0], ext.transform(blurred)[0]
    assert np.all(b[-2:] < a[-2:] / 2)
    assert 0 < a[-1] < a[-2] < 1  # the share above 0.5 is part of the share above 0.25


def test_profile_ignores_contrast_and_brightness():
    rng = np.random.default_rng(1)
    grey = rng.normal(128, 30, (64, 64))
    low = np.clip(grey * 0.5 + 40, 0, 255)
    crops = np.stack([np.repeat(np.round(g)[..., None], 3, axis=2) for g in (grey, low)])
    f = FourierSpectrum(cache=False).fit_transform(np.clip(crops, 0, 255).astype(np.uint8))
    np.testing.assert_allclose(f[0], f[1], atol=0.05)  # only rounding differs


def test_flat_crop_is_finite_and_has_no_high_frequency_energy():
    f = FourierSpectrum(dog_sigmas=((1, 2),), cache=False).fit_transform(
        np.full((1, 32, 32, 3), 77, np.uint8)
    )[0]
    assert np.all(np.isfinite(f))
    assert np.all(f[16:] == 0)


def test_dog_energy_follows_the_band():
    fine, coarse = sinusoid(24), sinusoid(3)
    ext = FourierSpectrum(dog_sigmas=((0.5, 1.0), (4.0, 8.0)), cache=False)
    f_fine, f_coarse = ext.fit_transform(fine)[0][-2:], ext.transform(coarse)[0][-2:]
    assert f_fine[0] > f_coarse[0]  # the fine DoG band passes the fine sinusoid
    assert f_coarse[1] > f_fine[1]  # the coarse band passes the coarse one


def test_radial_frequency_is_one_at_nyquist_on_the_axis():
    r = radial_frequency((64, 64))
    assert r[32, 32] == 0.0 and r[32, 0] == pytest.approx(1.0) and r[0, 32] == pytest.approx(1.0)


@pytest.mark.parametrize(
    ("params", "word"),
    [
        ({"n_bands": 1}, "n_bands"),
        ({"window": "hamming"}, "window"),
        ({"hf_cutoffs": (1.5,)}, "hf_cutoffs"),
        ({"dog_sigmas": ((2, 1),)}, "dog_sigmas"),
    ],
)
def test_bad_parameters_are_named(params, word):
    with pytest.raises(ValueError, match=word):
        FourierSpectrum(**params).fit(np.zeros((1, 16, 16, 3), np.uint8))


def test_real_crops(real_crops):
    ext = FourierSpectrum(n_bands=12, hf_cutoffs=(0.5,), dog_sigmas=((1, 2),), cache=False)
    a = ext.fit_transform(real_crops)
    assert a.shape == (6, 12 + 1 + 1)
    assert np.all(np.isfinite(a))
    np.testing.assert_array_equal(a, ext.transform(real_crops))
    # faces are low-pass: the first (lowest) band carries more relative power than the last
    assert np.all(a[:, 0] > a[:, 11])


def test_cached_window_equals_skimage_window():
    for _ in range(2):  # the second call returns the cached array
        np.testing.assert_array_equal(_window("hann", (48, 40)), window("hann", (48, 40)))


def reference_features(crop: np.ndarray, ext: FourierSpectrum) -> np.ndarray:
    """The features computed plainly: the full fftshifted power spectrum, a mask per band and
    cutoff, and skimage's difference_of_gaussians."""
    from skimage.filters import difference_of_gaussians

    img = to_grey(crop).astype(np.float64)
    centred = img - img.mean()
    if ext.window not in (None, "none"):
        centred *= window(ext.window, img.shape)
    power = np.abs(np.fft.fftshift(np.fft.fft2(centred))) ** 2
    radius = radial_frequency(img.shape)
    nondc = radius > 0
    total = power[nondc].sum()
    rel = np.zeros_like(power) if total <= 0 else power / total
    n = ext.n_bands
    profile = []
    for k in range(n):  # ring k holds k/n <= radius < (k+1)/n; the last one also radius 1
        ring = nondc & (radius * n >= k) & ((radius * n < k + 1) | ((k == n - 1) & (radius == 1)))
        profile.append(np.log10(rel[ring].sum() / max(ring.sum(), 1) + 1e-12))  # empty: 0
    ratios = [rel[nondc & (radius > c)].sum() for c in ext.hf_cutoffs]
    var = img.var()
    dog = [
        difference_of_gaussians(img, a, b).var() / var if var > 0 else 0.0
        for a, b in ext.dog_sigmas
    ]
    return np.concatenate([profile, ratios, dog])


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"window": None, "n_bands": 7, "hf_cutoffs": (0.1, 0.5, 0.9), "dog_sigmas": ()},
        {"n_bands": 32, "hf_cutoffs": (0.3,), "dog_sigmas": ((0.7, 3.0),)},
    ],
)
def test_features_equal_a_plain_full_spectrum_computation(real_crops, params):
    """rfft2 with per-class sums and OpenCV's blurs give the plain computation's values up to
    float rounding, on real crops, random crops of even and odd sizes, and a flat crop."""
    rng = np.random.default_rng(4)
    crops = [*real_crops, *rng.integers(0, 256, (2, 64, 64, 3), dtype=np.uint8)]
    crops += [rng.integers(0, 256, (33, 47, 3), dtype=np.uint8), np.full((20, 20, 3), 9, np.uint8)]
    ext = FourierSpectrum(cache=False, **params)
    for crop in crops:
        np.testing.assert_allclose(
            ext.fit_transform(crop[None])[0], reference_features(crop, ext), rtol=1e-12, atol=1e-14
        )


def test_dog_energies_equal_skimages_difference_of_gaussians():
    """The extractor blurs each sigma once; the energies are skimage's DoG variances."""
    from skimage.filters import difference_of_gaussians

    rng = np.random.default_rng(3)
    crops = rng.integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    ext = FourierSpectrum(cache=False)
    for crop in crops:
        img = to_grey(crop).astype(np.float64)
        expected = [difference_of_gaussians(img, a, b).var() / img.var() for a, b in ext.dog_sigmas]
        # OpenCV's separable filter sums the same kernel taps in another order than scipy
        np.testing.assert_allclose(ext._extract(crop)[-len(ext.dog_sigmas) :], expected, rtol=1e-12)
