"""Local binary pattern (LBP) histograms of face crops (Ojala et al. 2002), as estimators.

Used for face PAD by Määttä, Hadid, Pietikäinen (IJCB 2011) and Chingovska, Anjos, Marcel
(BIOSIG 2012). The codes and histograms are computed in `features.lbp_codes` (equal to
scikit-image's), where `method` and its bins are described. Only pixels whose full circle of
neighbours lies inside the crop are counted. With `grid=(rows, cols)` the crop is cut into
non-overlapping blocks whose histograms are concatenated (spatially enhanced LBP); every
block histogram sums to 1.
"""

from __future__ import annotations

import cv2
import numpy as np

from features.base import FeatureExtractor
from features.lbp_codes import check_lbp_params, lbp_histogram, lbp_multiscale_histograms


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
        scales = tuple(tuple(scale) for scale in self.scales)
        return lbp_multiscale_histograms(to_grey(crop)[None], scales, self.method, tuple(self.grid))
