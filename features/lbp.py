"""Local binary pattern (LBP) histograms of face crops (Ojala et al. 2002).

Used for face PAD by Määttä, Hadid, Pietikäinen (IJCB 2011) and Chingovska, Anjos, Marcel
(BIOSIG 2012). Codes come from `skimage.feature.local_binary_pattern` (a vectorised NumPy
version was tried and was no faster on 64x64 crops); this module bins them. `method` takes
skimage's names, which map to the literature's superscripts:

- ``"nri_uniform"``: LBP^u2, uniform patterns kept apart by rotation, P(P-1)+3 bins (59 for P=8);
  the mapping used by Määttä et al. and Chingovska et al.
- ``"uniform"``: LBP^riu2, rotation-invariant uniform patterns, P+2 bins.
- ``"ror"``: LBP^ri, rotation-invariant patterns (36 bins for P=8).
- ``"default"``: all 2^P codes.

Only pixels whose full circle of neighbours lies inside the crop are counted. With
`grid=(rows, cols)` the crop is cut into non-overlapping blocks whose histograms are
concatenated (spatially enhanced LBP); every block histogram sums to 1.
"""

from __future__ import annotations

from functools import cache

import cv2
import numpy as np
from skimage.feature import local_binary_pattern

from features.base import FeatureExtractor

METHODS = ("nri_uniform", "uniform", "ror", "default")
_MAX_P_FULL = 16  # "default" and "ror" enumerate all 2^P codes


@cache
def _ror_lookup(P: int) -> np.ndarray:
    """Map each rotation-invariant code (minimum over bit rotations) to a compact bin index."""
    codes = np.arange(2**P, dtype=np.int64)
    mask = 2**P - 1
    mins = codes.copy()
    for k in range(1, P):
        mins = np.minimum(mins, ((codes >> k) | (codes << (P - k))) & mask)
    lookup = np.full(2**P, -1, dtype=np.int64)
    uniq = np.unique(mins)
    lookup[uniq] = np.arange(uniq.size)
    lookup.flags.writeable = False
    return lookup


def n_bins(P: int, method: str) -> int:
    """Histogram length of one block for LBP_{P,R} with this mapping."""
    if method == "nri_uniform":
        return P * (P - 1) + 3
    if method == "uniform":
        return P + 2
    if method == "ror":
        return int(_ror_lookup(P).max()) + 1
    if method == "default":
        return 2**P
    raise ValueError(f"LBP method must be one of {METHODS}, got {method!r}")


def check_lbp_params(P: int, R: float, method: str, grid: tuple[int, int]) -> None:
    """Raise ValueError naming the bad LBP parameter."""
    if not isinstance(P, int | np.integer) or P < 4 or P > 32:
        raise ValueError(f"LBP P (number of neighbours) must be an integer in 4..32, got {P!r}")
    if not R > 0:
        raise ValueError(f"LBP R (radius) must be positive, got {R!r}")
    if method not in METHODS:
        raise ValueError(f"LBP method must be one of {METHODS}, got {method!r}")
    if method in ("ror", "default") and P > _MAX_P_FULL:
        raise ValueError(f"LBP method {method!r} needs P <= {_MAX_P_FULL}, got P={P}")
    if len(grid) != 2 or min(grid) < 1:
        raise ValueError(f"LBP grid must be (rows, cols) of positive integers, got {grid!r}")


def lbp_codes(channel: np.ndarray, P: int, R: float, method: str) -> np.ndarray:
    """LBP_{P,R} code of every pixel of a 2-D uint8 channel (skimage's local_binary_pattern)."""
    if channel.ndim != 2:
        raise ValueError(f"LBP needs a 2-D channel, got shape {channel.shape}")
    if method not in METHODS:
        raise ValueError(f"LBP method must be one of {METHODS}, got {method!r}")
    return local_binary_pattern(channel, P, R, method).astype(np.int64)


def lbp_histogram(
    channel: np.ndarray, P: int, R: float, method: str, grid: tuple[int, int] = (1, 1)
) -> np.ndarray:
    """Concatenated, per-block L1-normalised LBP_{P,R} histograms of one uint8 channel.

    Only pixels whose whole circle of neighbours lies inside the image are counted (skimage
    samples outside as 0, which would add spurious border codes).
    """
    m = int(np.ceil(R))
    if channel.shape[0] <= 2 * m or channel.shape[1] <= 2 * m:
        raise ValueError(f"LBP radius {R} is too large for a {channel.shape} channel")
    codes = lbp_codes(channel, P, R, method)[m:-m, m:-m]
    if method == "ror":  # skimage's ror codes are minima over rotations: compact them
        codes = _ror_lookup(P)[codes]
    bins = n_bins(P, method)
    rows, cols = grid
    h, w = codes.shape
    if rows > h or cols > w:
        raise ValueError(f"LBP grid {grid} has more blocks than the {h}x{w} crop has pixels")
    ys = np.linspace(0, h, rows + 1).astype(int)
    xs = np.linspace(0, w, cols + 1).astype(int)
    hists = []
    for r in range(rows):
        for c in range(cols):
            block = codes[ys[r] : ys[r + 1], xs[c] : xs[c + 1]]
            hist = np.bincount(block.ravel(), minlength=bins).astype(np.float64)
            hists.append(hist / hist.sum())
    return np.concatenate(hists)


def to_grey(crop: np.ndarray) -> np.ndarray:
    """uint8 RGB -> uint8 luma (ITU-R BT.601, as OpenCV)."""
    return cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2GRAY)


class LBPHistogram(FeatureExtractor):
    """Grey-level LBP_{P,R} histogram, optionally over a `grid` of blocks (Määttä et al. 2011)."""

    def __init__(
        self,
        P: int = 8,
        R: float = 1.0,
        method: str = "nri_uniform",
        grid: tuple[int, int] = (1, 1),
        n_jobs: int | None = 1,
        cache: bool = True,
    ) -> None:
        self.P = P
        self.R = R
        self.method = method
        self.grid = grid
        self.n_jobs = n_jobs
        self.cache = cache

    def _validate_params(self) -> None:
        check_lbp_params(self.P, self.R, self.method, tuple(self.grid))

    def _extract(self, crop: np.ndarray) -> np.ndarray:
        return lbp_histogram(to_grey(crop), self.P, self.R, self.method, tuple(self.grid))


class MultiScaleLBP(FeatureExtractor):
    """Concatenated grey LBP histograms at several (P, R) scales, e.g. (8,1)+(8,2)+(16,2)."""

    def __init__(
        self,
        scales: tuple[tuple[int, float], ...] = ((8, 1), (8, 2), (16, 2)),
        method: str = "nri_uniform",
        grid: tuple[int, int] = (1, 1),
        n_jobs: int | None = 1,
        cache: bool = True,
    ) -> None:
        self.scales = scales
        self.method = method
        self.grid = grid
        self.n_jobs = n_jobs
        self.cache = cache

    def _validate_params(self) -> None:
        if len(self.scales) == 0:
            raise ValueError("MultiScaleLBP needs at least one (P, R) scale")
        for scale in self.scales:
            if len(scale) != 2:
                raise ValueError(f"MultiScaleLBP scales must be (P, R) pairs, got {scale!r}")
            check_lbp_params(scale[0], scale[1], self.method, tuple(self.grid))

    def _extract(self, crop: np.ndarray) -> np.ndarray:
        grey = to_grey(crop)
        grid = tuple(self.grid)
        return np.concatenate(
            [lbp_histogram(grey, P, R, self.method, grid) for P, R in self.scales]
        )
