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

import numpy as np
from scipy import ndimage as ndi
from skimage.filters import window

from features.base import FeatureExtractor
from features.lbp import to_grey

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


@lru_cache(maxsize=64)  # per crop shape
def _bands(shape: tuple[int, int], n_bands: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Non-DC mask; band index and mask of the non-DC cells within Nyquist (radius <= 1)."""
    radius = radial_frequency(shape)
    nondc = radius > 0
    band = np.minimum((radius * n_bands).astype(int), n_bands)
    inside = nondc & (radius <= 1.0)
    return _frozen(nondc), _frozen(band[inside]), _frozen(inside)


@lru_cache(maxsize=64)  # per crop shape
def _above(shape: tuple[int, int], cutoff: float) -> np.ndarray:
    """Mask of the non-DC cells above normalised frequency `cutoff`."""
    radius = radial_frequency(shape)
    return _frozen((radius > 0) & (radius > cutoff))


def power_spectrum(grey: np.ndarray, window_name: str | None = "hann") -> np.ndarray:
    """fftshifted power spectrum of a grey image (mean removed, optionally windowed)."""
    img = grey.astype(np.float64)
    img -= img.mean()
    if window_name not in (None, "none"):
        img *= _window(window_name, img.shape)
    return np.abs(np.fft.fftshift(np.fft.fft2(img))) ** 2


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
        power = power_spectrum(grey, self.window)
        nondc, band, inside = _bands(grey.shape, self.n_bands)
        total = power[nondc].sum()
        # a flat crop has no non-DC power: every share is 0
        rel = np.zeros_like(power) if total <= 0 else power / total
        sums = np.bincount(band, weights=rel[inside], minlength=self.n_bands + 1)
        counts = np.bincount(band, minlength=self.n_bands + 1)
        # radius exactly 1.0 falls in index n_bands: fold it into the last band
        sums[-2] += sums[-1]
        counts[-2] += counts[-1]
        profile = np.log10(sums[:-1] / np.maximum(counts[:-1], 1) + _EPS)
        ratios = [rel[_above(grey.shape, float(c))].sum() for c in self.hf_cutoffs]
        feats = [profile, np.asarray(ratios, dtype=np.float64)]
        if self.dog_sigmas:
            img = grey.astype(np.float64)
            var = img.var()
            # skimage's difference_of_gaussians, each blur computed once (they recur across pairs)
            blurred = {
                sigma: ndi.gaussian_filter(img, sigma, mode="nearest", cval=0, truncate=4.0)
                for sigma in {s for pair in self.dog_sigmas for s in pair}
            }
            energies = [
                (blurred[inner] - blurred[outer]).var() / var if var > 0 else 0.0
                for inner, outer in self.dog_sigmas
            ]
            feats.append(np.asarray(energies))
        return np.concatenate(feats)
