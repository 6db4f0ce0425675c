"""Local phase quantisation (LPQ; Ojansivu & Heikkilä, ICISP 2008) histograms of face crops.

Used for face PAD on every channel of HSV and YCbCr by Boulkenafet, Komulainen, Hadid (IEEE
TIFS 2016). A short-term Fourier transform over an M x M window (uniform window, the
original `lpq.m`'s default) is taken at the four frequencies u1 = (a, 0), u2 = (0, a),
u3 = (a, a), u4 = (a, -a), a = 1/M; the signs of the real and imaginary parts of the four
coefficients give an 8-bit code per pixel, binned into a 256-bin L1-normalised histogram.
With `decorrelate` the eight coefficients are first whitened under a correlation model
rho^distance between pixels (rho = 0.9 as in `lpq.m`), which makes the code bits nearly
independent. Only pixels whose whole window lies inside the channel are coded ("valid").

Coefficients within `ZERO_TOLERANCE` of zero count as not positive, so flat regions (exactly
zero in exact arithmetic) get the same code in every implementation instead of floating-point
noise. Each STFT component is a real M x M kernel applied with OpenCV's `filter2D`.
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np

from features.base import FeatureExtractor
from features.colour import channels, check_colour_spaces

WINDOW_SIZES = (3, 5, 7, 9, 11)
ZERO_TOLERANCE = 1e-8
RHO = 0.9


def check_lpq_params(window_size: object, decorrelate: object) -> None:
    """Raise ValueError naming the bad LPQ parameter."""
    if isinstance(window_size, bool) or window_size not in WINDOW_SIZES:
        raise ValueError(f"LPQ window_size must be one of {WINDOW_SIZES}, got {window_size!r}")
    if not isinstance(decorrelate, bool | np.bool_):
        raise ValueError(f"LPQ decorrelate must be True or False, got {decorrelate!r}")


def stft_filters(window_size: int) -> np.ndarray:
    """The four complex M x M STFT kernels (convolution form, rows = y, columns = x)."""
    r = (window_size - 1) // 2
    x = np.arange(-r, r + 1)
    w0 = np.ones(window_size)
    w1 = np.exp(-2j * np.pi * x / window_size)
    w2 = np.conj(w1)
    return np.stack([np.outer(w0, w1), np.outer(w1, w0), np.outer(w1, w1), np.outer(w1, w2)])


def whitening(window_size: int, rho: float = RHO) -> np.ndarray:
    """8 x 8 matrix V whose transpose decorrelates the eight STFT components (as `lpq.m`).

    Component covariance is K C K^T, with K the real/imaginary kernels and C[i, j] =
    rho^|p_i - p_j| over window pixel positions. V holds its singular vectors (the diagonal
    scaling breaks ties between equal eigenvalues, as in `lpq.m`); each column's sign is fixed
    so that its largest-magnitude entry is positive, making the codes platform-independent.
    """
    K = _real_kernels(window_size).reshape(8, -1)
    ys, xs = np.indices((window_size, window_size)).reshape(2, -1)
    dist = np.hypot(ys[:, None] - ys[None, :], xs[:, None] - xs[None, :])
    cov = K @ (rho**dist) @ K.T
    A = np.diag(1.0 + 1e-6 * np.arange(7, -1, -1))
    _, _, Vt = np.linalg.svd(A @ cov @ A)
    V = Vt.T
    signs = np.sign(V[np.abs(V).argmax(axis=0), np.arange(8)])
    return V * signs


def _real_kernels(window_size: int) -> np.ndarray:
    """(8, M, M): Re and Im of each STFT kernel, in code-bit order (convolution form)."""
    q = stft_filters(window_size)
    return np.stack([part for f in q for part in (f.real, f.imag)])


@cache
def _correlation_kernels(window_size: int, decorrelate: bool) -> tuple[np.ndarray, ...]:
    """The eight kernels as `filter2D` (correlation) takes them, whitened if asked."""
    K = _real_kernels(window_size)
    if decorrelate:  # whitening is linear, so it can be folded into the kernels
        K = np.einsum("ji,jyx->iyx", whitening(window_size), K)
    return tuple(np.ascontiguousarray(k[::-1, ::-1]) for k in K)


def lpq_codes(channel: np.ndarray, window_size: int = 3, decorrelate: bool = False) -> np.ndarray:
    """8-bit LPQ code of every pixel whose window is inside the channel: (H-M+1, W-M+1) int."""
    check_lpq_params(window_size, decorrelate)
    if channel.ndim != 2:
        raise ValueError(f"LPQ needs a 2-D channel, got shape {channel.shape}")
    h, w = channel.shape
    if h < window_size or w < window_size:
        raise ValueError(f"LPQ window_size={window_size} is too large for a {h}x{w} channel")
    r = (window_size - 1) // 2
    image = channel.astype(np.float64)
    codes = np.zeros((h - 2 * r, w - 2 * r), dtype=np.int64)
    for bit, kernel in enumerate(_correlation_kernels(window_size, bool(decorrelate))):
        response = cv2.filter2D(image, cv2.CV_64F, kernel, borderType=cv2.BORDER_CONSTANT)
        codes |= (response[r : h - r, r : w - r] > ZERO_TOLERANCE).astype(np.int64) << bit
    return codes


def lpq_histogram(
    channel: np.ndarray, window_size: int = 3, decorrelate: bool = False
) -> np.ndarray:
    """256-bin LPQ histogram of one channel, summing to 1."""
    codes = lpq_codes(channel, window_size, decorrelate)
    hist = np.bincount(codes.ravel(), minlength=256).astype(np.float64)
    return hist / hist.sum()


class LPQ(FeatureExtractor):
    """LPQ histograms of every channel of every space in `colour_spaces`, concatenated."""

    def __init__(
        self,
        colour_spaces: tuple[str, ...] = ("HSV", "YCbCr"),
        window_size: int = 3,
        decorrelate: bool = True,
        n_jobs: int | None = 1,
        cache: bool = True,
    ) -> None:
        self.colour_spaces = colour_spaces
        self.window_size = window_size
        self.decorrelate = decorrelate
        self.n_jobs = n_jobs
        self.cache = cache

    def _validate_params(self) -> None:
        check_colour_spaces(self.colour_spaces)
        check_lpq_params(self.window_size, self.decorrelate)

    def _extract(self, crop: np.ndarray) -> np.ndarray:
        return np.concatenate(
            [
                lpq_histogram(channel, int(self.window_size), bool(self.decorrelate))
                for channel in channels(crop, tuple(self.colour_spaces))
            ]
        )
