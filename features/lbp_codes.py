"""LBP codes and histograms as pure NumPy functions, equal to scikit-image's.

`lbp_codes` reproduces `skimage.feature.local_binary_pattern` exactly, but over whole arrays
instead of a per-pixel loop, and for a stack of channels at once (a colour crop's six
channels cost about what one does). Neighbour k sits at angle 2*pi*k/P, its (row, col)
offset (-R sin, R cos) rounded to 5 decimals; off-grid neighbours are interpolated
bilinearly with skimage's weights and operation order, whose rounding depends on the
pixel's row and column, so comparisons with the centre (`neighbour >= centre`) tie-break
exactly as skimage does; outside the image samples are 0. The raw P-bit code is mapped to
the method's code through a lookup table per (P, method). For P > 16, where a 2^P table is
too large, codes come from skimage itself.

Methods take skimage's names, which map to the literature's superscripts:

- ``"nri_uniform"``: LBP^u2, uniform patterns kept apart by rotation, P(P-1)+3 bins (59 for P=8);
  the mapping used by Määttä et al. and Chingovska et al.
- ``"uniform"``: LBP^riu2, rotation-invariant uniform patterns, P+2 bins.
- ``"ror"``: LBP^ri, rotation-invariant patterns (36 bins for P=8).
- ``"default"``: all 2^P codes.

Histograms count only pixels whose full circle of neighbours lies inside the crop.
"""

from __future__ import annotations

import math
from functools import cache

import numpy as np
from skimage.feature import local_binary_pattern

METHODS = ("nri_uniform", "uniform", "ror", "default")
_MAX_P_FULL = 16  # "default" and "ror" enumerate all 2^P codes
_MAX_P_TABLE = 16  # largest P mapped through a 2^P lookup table


def _frozen(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def _smallest_uint(a: np.ndarray) -> np.ndarray:
    return a.astype(np.min_scalar_type(int(a.max())))


@cache
def _code_table(P: int, method: str) -> np.ndarray:
    """skimage's code for each raw P-bit code (bit k set when neighbour k >= centre)."""
    raw = np.arange(2**P, dtype=np.int64)
    if method == "default":
        return _frozen(raw)
    if method == "ror":  # minimum over the bit rotations
        mask = 2**P - 1
        mins = raw.copy()
        for k in range(1, P):
            mins = np.minimum(mins, ((raw >> k) | (raw << (P - k))) & mask)
        return _frozen(mins)
    bits = (raw[:, None] >> np.arange(P)) & 1
    n_ones = bits.sum(axis=1)
    changes = np.count_nonzero(np.diff(bits, axis=1), axis=1)  # not circular, as skimage
    if method == "uniform":
        return _frozen(np.where(changes <= 2, n_ones, P + 1))
    first_one = np.argmax(bits == 1, axis=1)
    first_zero = np.argmax(bits == 0, axis=1)
    rot_index = np.where(first_one == 0, n_ones - first_zero, P - first_one)
    codes = np.where(changes <= 2, 1 + (n_ones - 1) * P + rot_index, P * (P - 1) + 2)
    codes[n_ones == 0] = 0
    codes[n_ones == P] = P * (P - 1) + 1
    return _frozen(codes)


@cache
def _ror_bins(P: int) -> np.ndarray:
    """Map each rotation-invariant code (minimum over bit rotations) to a compact bin index."""
    mins = _code_table(P, "ror")
    lookup = np.full(2**P, -1, dtype=np.int64)
    uniq = np.unique(mins)
    lookup[uniq] = np.arange(uniq.size)
    return _frozen(lookup)


@cache
def _bin_table(P: int, method: str) -> np.ndarray:
    """Histogram bin of each raw P-bit code (ror codes compacted), in the smallest dtype."""
    table = _code_table(P, method)
    if method == "ror":
        table = _ror_bins(P)[table]
    return _frozen(_smallest_uint(table))


def n_bins(P: int, method: str) -> int:
    """Histogram length of one block for LBP_{P,R} with this mapping."""
    if method == "nri_uniform":
        return P * (P - 1) + 3
    if method == "uniform":
        return P + 2
    if method == "ror":
        return int(_ror_bins(P).max()) + 1
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


@cache
def _offsets(P: int, R: float) -> tuple[tuple[float, float], ...]:
    """(row, col) offset of each neighbour, computed and rounded as skimage does."""
    angles = 2 * np.pi * np.arange(P, dtype=np.float64) / P
    rp = np.round(-R * np.sin(angles), 5)
    cp = np.round(R * np.cos(angles), 5)
    return tuple(zip(rp.tolist(), cp.tolist(), strict=True))


def _weights(start: int, n: int, offset: float) -> tuple[int, int, np.ndarray | None]:
    """First lower and upper sample index of `n` positions from `start`, and the weights
    pos - floor(pos) of the upper one (None when the offset is whole)."""
    lo, hi = math.floor(offset), math.ceil(offset)
    if lo == hi:
        return lo, hi, None
    pos = np.arange(start, start + n, dtype=np.float64) + offset
    return lo, hi, pos - np.floor(pos)


def _raw_codes(
    padded: np.ndarray, P: int, R: float, pad: int, start: int, shape: tuple[int, int]
) -> np.ndarray:
    """Raw P-bit codes of a (C, H, W) uint8 stack zero-padded by `pad`, for the `shape`
    region whose top-left pixel is (start, start) in unpadded coordinates."""
    h, w = shape
    r0 = c0 = start + pad  # the region's first row and column in `padded`
    grey = padded.astype(np.float64)
    centre = grey[:, r0 : r0 + h, c0 : c0 + w]
    out_shape = (padded.shape[0], h, w)
    codes = np.zeros(out_shape, dtype=np.uint16 if P > 8 else np.uint8)
    bit = np.empty(out_shape, dtype=bool)
    shifted = np.empty_like(codes)
    value = np.empty(out_shape)
    lower = np.empty(out_shape)
    across: dict[float, np.ndarray] = {}  # rows interpolated along columns, per column offset
    for k, (rp, cp) in enumerate(_offsets(P, R)):
        clo, chi, dc = _weights(start, w, cp)
        rlo, rhi, dr = _weights(start, h, rp)
        if dc is None and dr is None:  # on the grid: compare the pixels themselves
            side = padded[:, r0 + rlo : r0 + rlo + h, c0 + clo : c0 + clo + w]
            np.greater_equal(side, padded[:, r0 : r0 + h, c0 : c0 + w], out=bit)
        else:
            if cp not in across:
                left = grey[:, :, c0 + clo : c0 + clo + w]
                right = grey[:, :, c0 + chi : c0 + chi + w]
                across[cp] = left if dc is None else (1 - dc) * left + dc * right
            top = across[cp][:, r0 + rlo : r0 + rlo + h]
            if dr is None:
                np.greater_equal(top, centre, out=bit)
            else:  # (1 - dr) * top + dr * bottom, as skimage
                bottom = across[cp][:, r0 + rhi : r0 + rhi + h]
                np.multiply(top, (1 - dr)[:, None], out=value)
                np.multiply(bottom, dr[:, None], out=lower)
                np.add(value, lower, out=value)
                np.greater_equal(value, centre, out=bit)
        np.left_shift(bit.view(np.uint8), k, out=shifted, dtype=codes.dtype)
        np.bitwise_or(codes, shifted, out=codes)
    return codes


def _check_channels(channels: np.ndarray) -> None:
    if channels.ndim != 3:
        raise ValueError(f"LBP needs a (C, H, W) stack of channels, got shape {channels.shape}")
    if channels.dtype != np.uint8:
        raise ValueError(f"LBP needs uint8 channels, got dtype {channels.dtype}")


def lbp_codes(channel: np.ndarray, P: int, R: float, method: str) -> np.ndarray:
    """LBP_{P,R} code of every pixel of a 2-D uint8 channel, equal to skimage's
    `local_binary_pattern(channel, P, R, method)` (as int64)."""
    if channel.ndim != 2:
        raise ValueError(f"LBP needs a 2-D channel, got shape {channel.shape}")
    if method not in METHODS:
        raise ValueError(f"LBP method must be one of {METHODS}, got {method!r}")
    if P > _MAX_P_TABLE:
        return local_binary_pattern(channel, P, R, method).astype(np.int64)
    _check_channels(channel[None])
    m = math.ceil(R)
    padded = np.pad(channel, m)[None]
    return _code_table(P, method)[_raw_codes(padded, P, R, m, 0, channel.shape)[0]]


def _interior_bins(channels: np.ndarray, P: int, R: float, method: str) -> np.ndarray:
    """(C, H-2m, W-2m) histogram bins of the pixels whose circle lies inside, m = ceil(R)."""
    m = math.ceil(R)
    c, h, w = channels.shape
    if h <= 2 * m or w <= 2 * m:
        raise ValueError(f"LBP radius {R} is too large for a {h}x{w} channel")
    shape = (h - 2 * m, w - 2 * m)
    if P <= _MAX_P_TABLE:
        return _bin_table(P, method)[_raw_codes(channels, P, R, 0, m, shape)]
    codes = [local_binary_pattern(ch, P, R, method)[m:-m, m:-m] for ch in channels]
    return np.stack(codes).astype(np.int64)  # uniform / nri_uniform: codes are the bins


@cache
def _block_offsets(n_channels: int, h: int, w: int, grid: tuple[int, int], bins: int) -> np.ndarray:
    """Per pixel, the index of its (channel, block) histogram's first bin."""
    rows, cols = grid
    if rows > h or cols > w:
        raise ValueError(f"LBP grid {grid} has more blocks than the {h}x{w} crop has pixels")
    ys = np.linspace(0, h, rows + 1).astype(int)
    xs = np.linspace(0, w, cols + 1).astype(int)
    block = (np.searchsorted(ys, np.arange(h), side="right") - 1)[:, None] * cols + (
        np.searchsorted(xs, np.arange(w), side="right") - 1
    )[None, :]
    per_channel = np.arange(n_channels)[:, None, None] * (rows * cols)
    return _frozen(((per_channel + block) * bins).astype(np.intp))


def lbp_histograms(
    channels: np.ndarray, P: int, R: float, method: str, grid: tuple[int, int] = (1, 1)
) -> np.ndarray:
    """Per-block L1-normalised LBP_{P,R} histograms of each channel of a (C, H, W) uint8
    stack, concatenated channel by channel, block by block (row-major)."""
    _check_channels(channels)
    grid = (int(grid[0]), int(grid[1]))
    codes = _interior_bins(channels, P, R, method)
    bins = n_bins(P, method)
    offsets = _block_offsets(*codes.shape, grid, bins)
    n_hists = channels.shape[0] * grid[0] * grid[1]
    counts = np.bincount((offsets + codes).ravel(), minlength=n_hists * bins)
    hists = counts.reshape(-1, bins).astype(np.float64)
    return (hists / hists.sum(axis=1, keepdims=True)).ravel()


def lbp_histogram(
    channel: np.ndarray, P: int, R: float, method: str, grid: tuple[int, int] = (1, 1)
) -> np.ndarray:
    """Concatenated, per-block L1-normalised LBP_{P,R} histograms of one 2-D uint8 channel."""
    if channel.ndim != 2:
        raise ValueError(f"LBP needs a 2-D channel, got shape {channel.shape}")
    return lbp_histograms(channel[None], P, R, method, grid)
