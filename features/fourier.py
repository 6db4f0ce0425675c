"""Fourier spectrum features of the grey face (Li et al., SPIE 2004; Tan et al., ECCV 2010).

A recaptured photo or print has lost high frequencies (the print and the second camera both
low-pass the face) and may carry moiré or halftone peaks. From the 2-D power spectrum of the
(optionally Hann-windowed) grey crop this extractor computes:

- the azimuthally averaged radial profile: log10 of the mean relative power in `n_bands` rings
  of equal width over normalised radial frequency 0..1 (1 = Nyquist along an axis; the
  corners beyond it are left out), relative power meaning power divided by the total non-DC
  power, which makes the profile invariant to contrast;
- high-frequency energy ratios (Li et al.'s descriptor): the share of non-DC power above each
  normalised frequency in `hf_cutoffs`;
- optionally Difference-of-Gaussian band energies (Tan et al. filter the face with a DoG):
  the variance of the DoG response for each (sigma_inner, sigma_outer) pair in `dog_sigmas`,
  divided by the grey-level variance.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np
from skimage.filters import window

from features.base import FeatureExtractor
from features.lbp import to_grey
from features.reductions import mean, var

WINDOWS = ("hann", "none", None)  # "none" (or None): no window; TOML has no null
_EPS = 1e-12


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


@lru_cache(maxsize=64)  # per crop shape
def radial_frequency(shape: tuple[int, int]) -> np.ndarray:
    """Normalised radial frequency (1 = Nyquist along an axis) of each fftshifted spectrum cell."""
    fy = np.fft.fftshift(np.fft.fftfreq(shape[0])) * 2.0
    fx = np.fft.fftshift(np.fft.fftfreq(shape[1])) * 2.0
    return _frozen(np.hypot(fy[:, None], fx[None, :]))


@lru_cache(maxsize=64)  # per crop shape
def _window(name: str, shape: tuple[int, int]) -> np.ndarray:
    return _frozen(window(name, shape))  # skimage builds it by warping: slow, so once per shape


@lru_cache(maxsize=64)  # per crop shape and parameters
def _spectrum_classes(
    shape: tuple[int, int], n_bands: int, hf_cutoffs: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Class of each value of `cv2.dft`'s complex output (real and imaginary part of every
    cell, in fft2's unshifted layout) and the (1 + n_bands + len(hf_cutoffs), n_classes)
    matrix that turns per-class sums of squares into (non-DC power, power of each band,
    power above each cutoff).

    Cells with the same band (radius exactly 1 in the last band, beyond 1 in none) and set
    of cutoffs they lie above form one class, so one `np.bincount` sums everything."""
    radius = np.fft.ifftshift(radial_frequency(shape))  # unshifted layout, as fft2
    band = np.where(radius <= 1.0, np.minimum((radius * n_bands).astype(int), n_bands - 1), -1)
    keys = [radius > 0, band + 1, *[radius > c for c in hf_cutoffs]]
    keys = np.stack([k.astype(int).ravel() for k in keys])
    uniq, cls = np.unique(keys, axis=1, return_inverse=True)
    nondc, band = uniq[0], uniq[1] - 1
    matrix = [nondc] + [nondc * (band == k) for k in range(n_bands)]
    matrix += [nondc * uniq[2 + i] for i in range(len(hf_cutoffs))]
    classes = np.repeat(cls.ravel().astype(np.intp), 2)  # real, imaginary
    return _frozen(classes), _frozen(np.array(matrix, dtype=np.float64))


@lru_cache(maxsize=64)  # per crop shape
def _band_counts(shape: tuple[int, int], n_bands: int) -> np.ndarray:
    """Number of non-DC cells of the full spectrum in each band (at least 1)."""
    radius = radial_frequency(shape)
    inside = (radius > 0) & (radius <= 1.0)
    band = np.minimum((radius[inside] * n_bands).astype(int), n_bands - 1)
    return _frozen(np.maximum(np.bincount(band, minlength=n_bands), 1).astype(np.float64))


@lru_cache(maxsize=64)  # per sigma
def _gaussian_kernel(sigma: float) -> np.ndarray:
    """`scipy.ndimage.gaussian_filter`'s 1-D kernel (truncate=4), symmetric so it is also
    the correlation kernel."""
    radius = int(4.0 * sigma + 0.5)
    x = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 / (sigma * sigma) * x * x)  # scipy's polynomial, evaluated as it does
    return _frozen(kernel / kernel.sum())


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    """`scipy.ndimage.gaussian_filter(img, sigma, mode="nearest", truncate=4.0)` of a float64
    image, equal up to float rounding (same kernel and borders; OpenCV's separable filter)."""
    k = _gaussian_kernel(float(sigma))
    return cv2.sepFilter2D(img, cv2.CV_64F, k, k, borderType=cv2.BORDER_REPLICATE)


class FourierSpectrum(FeatureExtractor):
    """Radial log-power profile, high-frequency energy ratios and optional DoG band energies."""

    def __init__(
        self,
        n_bands: int = 16,
        window: str | None = "hann",
        hf_cutoffs: tuple[float, ...] = (0.25, 0.5, 0.75),
        dog_sigmas: tuple[tuple[float, float], ...] = ((0.5, 1.0), (1.0, 2.0), (2.0, 4.0)),
        n_jobs: int | None = 1,
        cache: bool = True,
    ) -> None:
        self.n_bands = n_bands
        self.window = window
        self.hf_cutoffs = hf_cutoffs
        self.dog_sigmas = dog_sigmas
        self.n_jobs = n_jobs
        self.cache = cache

    def _validate_params(self) -> None:
        if not isinstance(self.n_bands, int | np.integer) or self.n_bands < 2:
            raise ValueError(f"n_bands must be an integer >= 2, got {self.n_bands!r}")
        if self.window not in WINDOWS:
            raise ValueError(f"window must be one of {WINDOWS}, got {self.window!r}")
        for c in self.hf_cutoffs:
            if not 0 < c < 1:
                raise ValueError(f"hf_cutoffs must lie strictly between 0 and 1, got {c!r}")
        for pair in self.dog_sigmas:
            if len(pair) != 2 or not 0 < pair[0] < pair[1]:
                raise ValueError(
                    f"dog_sigmas must be (inner, outer) pairs with 0 < inner < outer, got {pair!r}"
                )

    def _extract(self, crop: np.ndarray) -> np.ndarray:
        grey = to_grey(crop)
        img = grey.astype(np.float64)
        centred = img - mean(img)
        if self.window not in (None, "none"):
            centred *= _window(self.window, img.shape)
        spectrum = cv2.dft(centred, flags=cv2.DFT_COMPLEX_OUTPUT)  # as np.fft.fft2, up to rounding
        squares = np.multiply(spectrum, spectrum, out=spectrum).ravel()
        cutoffs = tuple(float(c) for c in self.hf_cutoffs)
        classes, matrix = _spectrum_classes(grey.shape, self.n_bands, cutoffs)
        sums = matrix @ np.bincount(classes, weights=squares, minlength=matrix.shape[1])
        total = sums[0]
        if total <= 0:  # a flat crop has no non-DC power: every share is 0
            sums[:] = 0.0
            total = 1.0
        n = self.n_bands
        profile = np.log10(sums[1 : n + 1] / total / _band_counts(grey.shape, n) + _EPS)
        feats = [profile, sums[n + 1 :] / total]
        if self.dog_sigmas:
            variance = var(img)
            # skimage's difference_of_gaussians, each blur computed once (they recur across pairs)
            blurred = {
                sigma: gaussian_blur(img, sigma)
                for sigma in {s for pair in self.dog_sigmas for s in pair}
            }
            energies = [
                var(blurred[inner] - blurred[outer]) / variance if variance > 0 else 0.0
                for inner, outer in self.dog_sigmas
            ]
            feats.append(np.asarray(energies))
        return np.concatenate(feats)
