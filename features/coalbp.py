"""Co-occurrence of adjacent local binary patterns (CoALBP; Nosaka, Ohkawa, Fukui, PSIVT 2011).

Used for face PAD on every channel of HSV and YCbCr by Boulkenafet, Komulainen, Hadid (IEEE
TIFS 2016). Each pixel gets a simplified 4-bit LBP from its four neighbours at distance R:
``"plus"`` (LBP+: right, up, left, down) or ``"cross"`` (LBPx: the four diagonals), bit set
when the neighbour is >= the centre. Pairs of codes D pixels apart are counted in four
directions (right, down-right, down, down-left), giving one 16x16 co-occurrence histogram
(256 bins, L1-normalised) per direction: 1024 values per (R, D) scale and channel.
Boulkenafet et al. use LBP+ at (R, D) = (1, 2), (2, 4), (4, 8), concatenated.
Only pixels whose neighbours lie inside the channel get a code.
"""

from __future__ import annotations

import numpy as np

from features.base import FeatureExtractor
from features.colour import channels, check_colour_spaces

NEIGHBOURS = {
    "plus": ((0, 1), (-1, 0), (0, -1), (1, 0)),
    "cross": ((-1, 1), (-1, -1), (1, -1), (1, 1)),
}
DIRECTIONS = ((0, 1), (1, 1), (1, 0), (1, -1))  # (dy, dx): right, down-right, down, down-left
BINS_PER_SCALE = len(DIRECTIONS) * 16 * 16


def check_coalbp_params(scales: object, neighbours: object) -> None:
    """Raise ValueError naming the bad CoALBP parameter."""
    if not isinstance(neighbours, str) or neighbours not in NEIGHBOURS:
        raise ValueError(
            f"CoALBP neighbours must be one of {tuple(NEIGHBOURS)}, got {neighbours!r}"
        )
    if isinstance(scales, str) or not hasattr(scales, "__len__") or len(scales) == 0:
        raise ValueError(f"CoALBP scales must be a non-empty tuple of (R, D) pairs, got {scales!r}")
    for scale in scales:
        ok = hasattr(scale, "__len__") and len(scale) == 2
        if not ok or not all(isinstance(v, int | np.integer) and v >= 1 for v in scale):
            raise ValueError(
                f"CoALBP scales must be (R, D) pairs of positive integers (radius, "
                f"co-occurrence distance), got {scale!r}"
            )


def coalbp_codes(channel: np.ndarray, R: int, neighbours: str = "plus") -> np.ndarray:
    """4-bit simplified LBP of every pixel at least R from the border: (H - 2R, W - 2R) int."""
    if channel.ndim != 2:
        raise ValueError(f"CoALBP needs a 2-D channel, got shape {channel.shape}")
    h, w = channel.shape
    if h <= 2 * R or w <= 2 * R:
        raise ValueError(f"CoALBP radius R={R} is too large for a {h}x{w} channel")
    x = channel.astype(np.int32)
    centre = x[R : h - R, R : w - R]
    codes = np.zeros(centre.shape, dtype=np.int64)
    for bit, (dy, dx) in enumerate(NEIGHBOURS[neighbours]):
        neighbour = x[R + dy * R : h - R + dy * R, R + dx * R : w - R + dx * R]
        codes |= (neighbour >= centre).astype(np.int64) << bit
    return codes


def cooccurrence(codes: np.ndarray, D: int) -> np.ndarray:
    """Four 256-bin histograms (one per direction) of code pairs D apart, each summing to 1."""
    h, w = codes.shape
    if h <= D or w <= D:
        raise ValueError(f"CoALBP distance D={D} is too large for a {h}x{w} code map")
    hists = []
    for dy, dx in DIRECTIONS:
        y0, x0 = 0, max(0, -dx * D)
        y1, x1 = h - dy * D, w - max(0, dx * D)
        first = codes[y0:y1, x0:x1]
        second = codes[y0 + dy * D : y1 + dy * D, x0 + dx * D : x1 + dx * D]
        hist = np.bincount((16 * first + second).ravel(), minlength=256).astype(np.float64)
        hists.append(hist / hist.sum())
    return np.concatenate(hists)


def coalbp_histogram(
    channel: np.ndarray, scales: tuple[tuple[int, int], ...], neighbours: str = "plus"
) -> np.ndarray:
    """Concatenated CoALBP histograms of one channel over (R, D) scales: 1024 values each."""
    return np.concatenate(
        [cooccurrence(coalbp_codes(channel, R, neighbours), D) for R, D in scales]
    )


class CoALBP(FeatureExtractor):
    """CoALBP of every channel of every space in `colour_spaces` (Boulkenafet et al. 2016)."""

    def __init__(
        self,
        colour_spaces: tuple[str, ...] = ("HSV", "YCbCr"),
        scales: tuple[tuple[int, int], ...] = ((1, 2), (2, 4), (4, 8)),
        neighbours: str = "plus",
        n_jobs: int | None = 1,
        cache: bool = True,
    ) -> None:
        self.colour_spaces = colour_spaces
        self.scales = scales
        self.neighbours = neighbours
        self.n_jobs = n_jobs
        self.cache = cache

    def _validate_params(self) -> None:
        check_colour_spaces(self.colour_spaces)
        check_coalbp_params(self.scales, self.neighbours)

    def _extract(self, crop: np.ndarray) -> np.ndarray:
        scales = tuple((int(R), int(D)) for R, D in self.scales)
        return np.concatenate(
            [
                coalbp_histogram(channel, scales, self.neighbours)
                for channel in channels(crop, tuple(self.colour_spaces))
            ]
        )
