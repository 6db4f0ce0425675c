"""Colour-texture LBP (Boulkenafet, Komulainen, Hadid, ICIP 2015 and IEEE TIFS 2016).

Recaptured faces lose chroma detail that a grey LBP cannot see; these features compute an
LBP histogram on every channel of one or more colour spaces (their best: HSV and YCbCr) and
concatenate them. Conversions are OpenCV's 8-bit ones (H in 0..179; YCbCr in BT.601 order
Y, Cb, Cr; CIE L*a*b* scaled to 0..255).
"""

from __future__ import annotations

import cv2
import numpy as np

from features.base import FeatureExtractor
from features.lbp_codes import check_lbp_params, lbp_histograms

COLOUR_SPACES = ("HSV", "YCbCr", "RGB", "Lab", "grey")


def convert(crop: np.ndarray, space: str) -> np.ndarray:
    """uint8 RGB crop -> (H, W, C) uint8 channels of `space`."""
    crop = np.ascontiguousarray(crop)
    if space == "RGB":
        return crop
    if space == "HSV":
        return cv2.cvtColor(crop, cv2.COLOR_RGB2HSV)
    if space == "YCbCr":
        return cv2.cvtColor(crop, cv2.COLOR_RGB2YCrCb)[..., [0, 2, 1]]
    if space == "Lab":
        return cv2.cvtColor(crop, cv2.COLOR_RGB2Lab)
    if space == "grey":
        return cv2.cvtColor(crop, cv2.COLOR_RGB2GRAY)[..., None]
    raise ValueError(f"colour space must be one of {COLOUR_SPACES}, got {space!r}")


def split(crop: np.ndarray, space: str) -> tuple[np.ndarray, ...]:
    """The (H, W) uint8 channels of `space`, in `convert`'s order."""
    if space == "YCbCr":  # split OpenCV's Y, Cr, Cb rather than copying a reordered array
        y, cr, cb = cv2.split(cv2.cvtColor(np.ascontiguousarray(crop), cv2.COLOR_RGB2YCrCb))
        return y, cb, cr
    return tuple(cv2.split(convert(crop, space)))


def check_colour_spaces(colour_spaces: object) -> None:
    """Raise ValueError unless `colour_spaces` is a non-empty sequence of known space names."""
    if isinstance(colour_spaces, str) or len(colour_spaces) == 0:
        raise ValueError(
            f"colour_spaces must be a non-empty tuple of names from {COLOUR_SPACES}, "
            f"got {colour_spaces!r}"
        )
    for space in colour_spaces:
        if space not in COLOUR_SPACES:
            raise ValueError(f"colour space must be one of {COLOUR_SPACES}, got {space!r}")


def channels(crop: np.ndarray, colour_spaces: tuple[str, ...]) -> list[np.ndarray]:
    """Every channel of every space in `colour_spaces`, as contiguous 2-D uint8 arrays."""
    out = []
    for space in colour_spaces:
        converted = convert(crop, space)
        out += [np.ascontiguousarray(converted[..., c]) for c in range(converted.shape[2])]
    return out


class ColourLBP(FeatureExtractor):
    """LBP_{P,R} histograms of every channel of every space in `colour_spaces`, concatenated."""

    def __init__(
        self,
        colour_spaces: tuple[str, ...] = ("HSV", "YCbCr"),
        P: int = 8,
        R: float = 1.0,
        method: str = "nri_uniform",
        grid: tuple[int, int] = (1, 1),
        n_jobs: int | None = 1,
        cache: bool = True,
    ) -> None:
        self.colour_spaces = colour_spaces
        self.P = P
        self.R = R
        self.method = method
        self.grid = grid
        self.n_jobs = n_jobs
        self.cache = cache

    def _validate_params(self) -> None:
        check_colour_spaces(self.colour_spaces)
        check_lbp_params(self.P, self.R, self.method, tuple(self.grid))

    def _extract(self, crop: np.ndarray) -> np.ndarray:
        # np.array: np.stack's result, without its Python-level checks
        channels = np.array([ch for space in self.colour_spaces for ch in split(crop, space)])
        return lbp_histograms(channels, self.P, self.R, self.method, tuple(self.grid))
