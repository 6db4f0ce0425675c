"""Image distortion analysis (IDA) features (Wen, Han, Jain, IEEE TIFS 2015).

A recaptured face shows the distortions of a second imaging step: glare on paper or glass,
blur, shifted and compressed colours. Wen et al. describe it with four groups, concatenated
here in their order (121 values with the defaults):

1. Specular reflection (3): share of specular pixels, mean and variance of their specular
   intensity. The specular component is estimated with Shen & Cai's modified specular-free
   image (Applied Optics 2009: under a white illuminant the specular term adds equally to all
   channels, so S = max(0, min_c I_c - mean(min_c I_c))) instead of Wen et al.'s iterative
   separation; as in Wen et al., specular pixels are those with S in
   (specular_range[0] * mean(S), specular_range[1] * mean(S)], which leaves out saturated light.
2. Blurriness (2): Crete et al.'s re-blur metric (as `skimage.measure.blur_effect`, 0 sharp ..
   1 blurred, one of Wen et al.'s two metrics) and -log10 of the variance of the Laplacian
   (Pech-Pacheco et al. 2000, standing in for Marziliano's edge width); both grow with blur.
3. Chromatic moments (15): for each HSV channel, mean, standard deviation, skewness, and the
   shares of pixels in the lowest and highest of `hist_bins` value bins (clipped colours).
4. Colour diversity (n_top_colours + 1): with RGB quantised to `colour_levels` levels per
   channel, the shares of pixels taken by the `n_top_colours` most frequent colours (sorted,
   zero-padded) and the number of distinct colours divided by the number of pixels.
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np

from features.base import FeatureExtractor
from features.lbp import to_grey
from features.reductions import mean, var


def specular_component(crop: np.ndarray) -> np.ndarray:
    """Specular intensity per pixel (0..1) from the modified specular-free image."""
    lowest = np.minimum(np.minimum(crop[..., 0], crop[..., 1]), crop[..., 2])
    lowest = np.divide(lowest, 255.0, dtype=np.float64)
    return np.maximum(lowest - mean(lowest), 0.0)


def _specular_mask(s: np.ndarray, specular_range: tuple[float, float]) -> np.ndarray:
    mu = mean(s)
    if mu <= 0:
        return np.zeros(s.shape, dtype=bool)
    return (s > specular_range[0] * mu) & (s <= specular_range[1] * mu)


def specular_mask(crop: np.ndarray, specular_range: tuple[float, float] = (1.5, 4.0)) -> np.ndarray:
    """Boolean mask of specular pixels: S in (lo * mean(S), hi * mean(S)]."""
    return _specular_mask(specular_component(crop), specular_range)


def specular_features(crop: np.ndarray, specular_range: tuple[float, float]) -> np.ndarray:
    """(share of specular pixels, mean and variance of their specular intensity)."""
    s = specular_component(crop)
    specular = s[_specular_mask(s, specular_range)]
    if specular.size == 0:
        return np.zeros(3)
    return np.array([specular.size / s.size, mean(specular), var(specular)])


_EPSILON = np.spacing(np.float64(1))  # skimage's floor on gradient magnitudes


def crete_blur(grey: np.ndarray, h_size: int = 11) -> float:
    """Crete et al.'s blur metric, `skimage.measure.blur_effect(grey, h_size)` up to float
    rounding.

    skimage takes Sobel responses (weights +-1/4, +-1/2, edge pixels repeated) of the image
    scaled to 0..1 and of its re-blur by a `h_size` moving average (`ndi.uniform_filter1d`,
    mirrored borders). Here they are computed on the uint8 values, on the moving sums and
    with weights +-1, +-2 by OpenCV, all exact integers, so both responses are skimage's times
    one factor k = 4 * 255 * h_size (the sharp one multiplied by `h_size`), and so are the
    floors on them; the metric, a ratio of sums, is unchanged by k."""
    h, w = grey.shape
    floor = 4 * 255 * h_size * _EPSILON
    metrics = []
    for dx, dy in ((0, 1), (1, 0)):  # along rows (skimage's axis 0), then along columns
        ksize = (1, h_size) if dy else (h_size, 1)
        sums = cv2.boxFilter(
            grey, cv2.CV_64F, ksize, normalize=False, borderType=cv2.BORDER_REFLECT
        )
        sharp, blurred = (
            np.abs(cv2.Sobel(im, cv2.CV_64F, dx, dy, ksize=3, borderType=cv2.BORDER_REPLICATE))
            for im in (grey, sums)
        )
        sharp = np.maximum(sharp[2 : h - 1, 2 : w - 1] * h_size, floor)
        blurred = np.maximum(blurred[2 : h - 1, 2 : w - 1], floor)
        m1 = np.add.reduce(sharp, axis=None)  # ndarray.sum without its Python wrapper
        lost = np.maximum(np.subtract(sharp, blurred, out=blurred), 0.0, out=blurred)
        metrics.append(abs(m1 - np.add.reduce(lost, axis=None)) / m1)
    return max(metrics)


def blur_features(crop: np.ndarray) -> np.ndarray:
    """(Crete blur effect, -log10 Laplacian variance): both larger for a blurrier crop."""
    grey = to_grey(crop)
    lap_var = float(var(cv2.Laplacian(grey, cv2.CV_64F)))
    lo, hi = cv2.minMaxLoc(grey)[:2]
    crete = crete_blur(grey) if lo < hi else 1.0  # undefined on a flat crop
    return np.array([crete, -np.log10(lap_var + 1e-6)])


def moments(v: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean, standard deviation and biased sample skewness along the last axis (skewness of
    rows of non-constant values): what `np.mean`, `np.std` and `scipy.stats.skew` compute,
    with the same operations, sharing the deviations (their input checks and repeated passes
    cost more than the arithmetic on a crop)."""
    mu = mean(v, axis=-1, keepdims=True)
    d = v - mu
    d2 = d * d
    m2 = mean(d2, axis=-1)  # the variance
    m3 = mean(np.multiply(d2, d, out=d2), axis=-1)
    # scalar powers, as scipy's: NumPy's vectorised array power can differ in the last bit
    skew = m3 / np.reshape([x**1.5 for x in np.ravel(m2)], np.shape(m2))
    return mu[..., 0], np.sqrt(m2), skew


def edge_bin_shares(v: np.ndarray, hist_bins: int) -> tuple[np.ndarray, np.ndarray]:
    """Shares of values along the last axis in the first and last of `hist_bins` equal bins
    over [0, 1], counted as `np.histogram(v, hist_bins, (0, 1))` counts them (the last bin
    includes 1)."""
    first_edge, last_edge = _inner_edges(hist_bins)
    first = np.add.reduce((v >= 0.0) & (v < first_edge), axis=-1, dtype=np.intp)
    last = np.add.reduce((v >= last_edge) & (v <= 1.0), axis=-1, dtype=np.intp)
    return first / v.shape[-1], last / v.shape[-1]


@cache
def _inner_edges(hist_bins: int) -> tuple[float, float]:
    """The second and the second-to-last of `np.histogram`'s `hist_bins` + 1 edges over [0, 1]."""
    edges = np.linspace(0.0, 1.0, hist_bins + 1)
    return float(edges[1]), float(edges[-2])


def chromatic_moments(crop: np.ndarray, hist_bins: int) -> np.ndarray:
    """Per HSV channel: mean, std, skewness, share in lowest and highest value bins."""
    hsv = cv2.cvtColor(crop.astype(np.float32) / 255.0, cv2.COLOR_RGB2HSV)
    v = hsv.reshape(-1, 3).T.astype(np.float64, order="C")  # one contiguous row per channel
    v[0] /= 360.0  # OpenCV float hue is in degrees
    with np.errstate(divide="ignore", invalid="ignore"):
        mu, std, skew = moments(v)
    skew[std <= 1e-12] = 0.0
    first, last = edge_bin_shares(v, hist_bins)
    return np.array([mu, std, skew, first, last]).T.ravel()


def colour_diversity(crop: np.ndarray, colour_levels: int, n_top_colours: int) -> np.ndarray:
    """Shares of the most frequent quantised colours, then distinct colours per pixel."""
    q = cv2.LUT(crop, _quantiser(colour_levels)).astype(
        np.intp
    )  # LUT: NumPy's uint8 indexing is slow
    codes = (q[..., 0] * colour_levels + q[..., 1]) * colour_levels + q[..., 2]
    counts = np.bincount(codes.ravel(), minlength=colour_levels**3)
    seen = counts[counts > 0]  # the top colours, zero-padded, as the top of all counts
    n = codes.size
    top = np.zeros(min(n_top_colours, counts.size))
    ranked = np.sort(seen)[::-1][:n_top_colours]
    top[: ranked.size] = ranked / n
    return np.concatenate([top, [seen.size / n]])


@cache
def _quantiser(colour_levels: int) -> np.ndarray:
    """uint8 value -> its level of `colour_levels` (value * levels // 256), for `cv2.LUT`."""
    table = (np.arange(256) * colour_levels // 256).astype(np.uint8)
    table.flags.writeable = False
    return table


class DistortionFeatures(FeatureExtractor):
    """Wen-Han-Jain distortion features: specular, blur, chromatic moments, colour diversity."""

    def __init__(
        self,
        specular_range: tuple[float, float] = (1.5, 4.0),
        hist_bins: int = 32,
        colour_levels: int = 32,
        n_top_colours: int = 100,
        n_jobs: int | None = 1,
        cache: bool = True,
    ) -> None:
        self.specular_range = specular_range
        self.hist_bins = hist_bins
        self.colour_levels = colour_levels
        self.n_top_colours = n_top_colours
        self.n_jobs = n_jobs
        self.cache = cache

    def _validate_params(self) -> None:
        lo, hi = self.specular_range
        if not 0 <= lo < hi:
            raise ValueError(
                f"specular_range must be (lo, hi) with 0 <= lo < hi, got {self.specular_range!r}"
            )
        if not 2 <= self.hist_bins <= 256:
            raise ValueError(f"hist_bins must be in 2..256, got {self.hist_bins!r}")
        if not 2 <= self.colour_levels <= 64:
            raise ValueError(f"colour_levels must be in 2..64, got {self.colour_levels!r}")
        if self.n_top_colours < 1:
            raise ValueError(f"n_top_colours must be >= 1, got {self.n_top_colours!r}")

    def _extract(self, crop: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [
                specular_features(crop, tuple(self.specular_range)),
                blur_features(crop),
                chromatic_moments(crop, self.hist_bins),
                colour_diversity(crop, self.colour_levels, self.n_top_colours),
            ]
        )
