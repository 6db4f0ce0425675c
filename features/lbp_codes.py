"""LBP codes and histograms as pure NumPy functions, equal to scikit-image's.

`lbp_codes` reproduces `skimage.feature.local_binary_pattern` exactly, but with NumPy
operations over whole arrays (all channels of a crop at once) instead of a per-pixel loop.
Neighbour k sits at angle 2*pi*k/P, its (row, col)
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
from functools import cache, lru_cache

import cv2
import numpy as np
from skimage.feature import local_binary_pattern

MAPPINGS = ("nri_uniform", "uniform", "ror", "default")
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
    raise ValueError(f"LBP method must be one of {MAPPINGS}, got {method!r}")


def check_lbp_params(P: int, R: float, method: str, grid: tuple[int, int]) -> None:
    """Raise ValueError naming the bad LBP parameter."""
    if not isinstance(P, int | np.integer) or P < 4 or P > 32:
        raise ValueError(f"LBP P (number of neighbours) must be an integer in 4..32, got {P!r}")
    if not R > 0:
        raise ValueError(f"LBP R (radius) must be positive, got {R!r}")
    if method not in MAPPINGS:
        raise ValueError(f"LBP method must be one of {MAPPINGS}, got {method!r}")
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


@lru_cache(maxsize=1024)  # per image shape: bounded, crops of many sizes may come
def _weights(
    shape: tuple[int, int], pad: int, offset: float, axis: int
) -> tuple[int, int, tuple[np.ndarray, np.ndarray] | None]:
    """Lower and upper sample offsets along `axis` for a neighbour `offset` away, and per
    pixel of a `shape` image padded by `pad`, flattened, the weights (1 - d, d) of the two
    samples, d = pos - floor(pos) at the unpadded position (None when `offset` is whole)."""
    lo, hi = math.floor(offset), math.ceil(offset)
    if lo == hi:
        return lo, hi, None
    pos = np.arange(shape[axis], dtype=np.float64) - pad + offset
    d = pos - np.floor(pos)
    d = np.broadcast_to(d[:, None] if axis == 0 else d[None, :], shape).ravel()
    return lo, hi, (_frozen(1 - d), _frozen(d))


@lru_cache(maxsize=1024)  # per image shape, as `_weights`
def _neighbours(shape: tuple[int, int], pad: int, P: int, R: float) -> tuple[tuple, ...]:
    """Per neighbour: its column offset, then `_weights` along columns and along rows (one
    cache look-up per image instead of two per neighbour)."""
    return tuple(
        (cp, _weights(shape, pad, cp, 1), _weights(shape, pad, rp, 0)) for rp, cp in _offsets(P, R)
    )


def _raw_codes(
    padded: np.ndarray, P: int, R: float, pad: int, start: int, shape: tuple[int, int]
) -> np.ndarray:
    """Raw P-bit codes of a (C, H, W) uint8 stack zero-padded by `pad`, for the `shape`
    region whose top-left pixel is (start, start) in unpadded coordinates, as a (C, n) flat
    run (`_region` cuts the region out of it).

    Every image is handled as one flat run of pixels from the region's first pixel to its
    last (the border columns in between are computed too), so each NumPy operation is one
    contiguous loop per channel; a shift by (dr, dc) is a shift by dr * W + dc."""
    n_channels, H, W = padded.shape
    h, w = shape
    m = math.ceil(R)
    r0 = c0 = start + pad  # the region's first row and column in `padded`
    a = r0 * W + c0
    n = (h - 1) * W + w  # flat run of the region
    flat8 = padded.reshape(n_channels, H * W)
    flat = flat8.astype(np.float64)
    centre = flat[:, a : a + n]
    bits = np.empty((P, n_channels, n), dtype=bool)
    value = np.empty((n_channels, n))
    lower = np.empty((n_channels, n))
    across: dict[float, np.ndarray] = {}  # rows r0-m.. interpolated along columns, per offset
    b = a - m * W  # first pixel of `across`
    n_across = n + 2 * m * W
    for k, (cp, (clo, chi, wc), (rlo, rhi, wr)) in enumerate(_neighbours((H, W), pad, P, R)):
        if wc is None and wr is None:  # on the grid: compare the pixels themselves
            side = flat8[:, a + rlo * W + clo : a + rlo * W + clo + n]
            np.greater_equal(side, flat8[:, a : a + n], out=bits[k])
        else:
            if cp not in across:
                left = flat[:, b + clo : b + clo + n_across]
                if wc is None:
                    across[cp] = left
                else:
                    right = flat[:, b + chi : b + chi + n_across]
                    ws = slice(b, b + n_across)
                    across[cp] = wc[0][ws] * left + wc[1][ws] * right
            top = across[cp][:, (rlo + m) * W : (rlo + m) * W + n]
            if wr is None:
                np.greater_equal(top, centre, out=bits[k])
            else:  # (1 - dr) * top + dr * bottom, as skimage
                bottom = across[cp][:, (rhi + m) * W : (rhi + m) * W + n]
                np.multiply(top, wr[0][a : a + n], out=value)
                np.multiply(bottom, wr[1][a : a + n], out=lower)
                np.add(value, lower, out=value)
                np.greater_equal(value, centre, out=bits[k])
    dtype = np.uint16 if P > 8 else np.uint8
    weights = (1 << np.arange(P)).astype(dtype)
    return np.einsum("k,kcn->cn", weights, bits.view(np.uint8).astype(dtype, copy=False))


def _region(run: np.ndarray, W: int, shape: tuple[int, int]) -> np.ndarray:
    """The (C, h, w) region of a (C, (h - 1) * W + w) flat run with rows W pixels apart."""
    n_channels, n = run.shape
    h, w = shape
    out = np.zeros((n_channels, h * W), dtype=run.dtype)
    out[:, :n] = run
    return out.reshape(n_channels, h, W)[:, :, :w]


def _check_channels(channels: np.ndarray) -> None:
    if channels.ndim != 3:
        raise ValueError(f"LBP needs a (C, H, W) stack of channels, got shape {channels.shape}")
    if channels.dtype != np.uint8:
        raise ValueError(f"LBP needs uint8 channels, got dtype {channels.dtype}")


def lbp_codes(channel: np.ndarray, P: int, R: float, method: str) -> np.ndarray:
    """LBP_{P,R} code of every pixel of a 2-D uint8 channel, equal to skimage's
    `local_binary_pattern(channel, P, R, method)` (as int64; skimage's own for P > 16)."""
    if channel.ndim != 2:
        raise ValueError(f"LBP needs a 2-D channel, got shape {channel.shape}")
    if method not in MAPPINGS:
        raise ValueError(f"LBP method must be one of {MAPPINGS}, got {method!r}")
    if P > _MAX_P_TABLE:
        return local_binary_pattern(channel, P, R, method).astype(np.int64)
    _check_channels(channel[None])
    m = math.ceil(R)
    padded = np.pad(channel, m)[None]
    run = _raw_codes(padded, P, R, m, 0, channel.shape)
    return _code_table(P, method)[_region(run, padded.shape[2], channel.shape)[0]]


def _is_subset(P: int, P_all: int, R: float) -> bool:
    """Whether LBP_{P,R}'s neighbours are every (P_all / P)-th of LBP_{P_all,R}'s."""
    if P_all % P or P_all > _MAX_P_TABLE:
        return False
    return _offsets(P_all, R)[:: P_all // P] == _offsets(P, R)


@cache
def _subset_bin_table(P_all: int, P: int, method: str) -> np.ndarray:
    """Bin of LBP_{P,R} for each raw LBP_{P_all,R} code, when neighbour k of P is neighbour
    k * P_all / P of P_all (`_is_subset`)."""
    step = P_all // P
    raw = np.arange(2**P_all, dtype=np.int64)
    sub = np.zeros_like(raw)
    for k in range(P):
        sub |= ((raw >> (k * step)) & 1) << k
    return _frozen(_bin_table(P, method)[sub])


@cache
def _lut(P_all: int, P: int, method: str) -> np.ndarray:
    """`_subset_bin_table` as a 256-entry uint8 table for `cv2.LUT` (P_all <= 8)."""
    table = np.zeros(256, dtype=np.uint8)
    table[: 2**P_all] = _subset_bin_table(P_all, P, method)
    return _frozen(table)


def _interior_bins(
    channels: np.ndarray, scales: tuple[tuple[int, float], ...], method: str
) -> list[tuple[np.ndarray, int]]:
    """Per scale, the histogram bins of the pixels whose circle lies inside (m = ceil(R)),
    as a (C, n) flat run of the (C, H-2m, W-2m) interior with rows `stride` pixels apart,
    with that stride. A scale whose neighbours are a subset of another's (P = 8 of P = 16 at
    the same R) takes its bits from that scale's codes. 8-bit codes are binned by
    `cv2.LUT`, far faster than NumPy indexing with uint8 indices."""
    raw: dict[tuple[int, float], np.ndarray] = {}
    bins = []
    for P, R in scales:
        m = math.ceil(R)
        c, h, w = channels.shape
        if h <= 2 * m or w <= 2 * m:
            raise ValueError(f"LBP radius {R} is too large for a {h}x{w} channel")
        if P > _MAX_P_TABLE:  # uniform / nri_uniform: skimage's codes are the bins
            codes = [local_binary_pattern(ch, P, R, method)[m:-m, m:-m] for ch in channels]
            bins.append((np.stack(codes).astype(np.int64).reshape(c, -1), w - 2 * m))
            continue
        P_all = max(p for p, r in scales if r == R and _is_subset(P, p, R))
        if (P_all, R) not in raw:
            raw[P_all, R] = _raw_codes(channels, P_all, R, 0, m, (h - 2 * m, w - 2 * m))
        codes = raw[P_all, R]
        if P_all <= 8:
            bins.append((cv2.LUT(codes, _lut(P_all, P, method)), w))
        else:
            bins.append((_subset_bin_table(P_all, P, method)[codes], w))
    return bins


@lru_cache(maxsize=256)
def _run_offsets(
    n_channels: int, shape: tuple[int, int], stride: int, grid: tuple[int, int], bins: int
) -> np.ndarray:
    """Per pixel of a (C, n) flat run of (C, h, w) regions with rows `stride` apart, the
    index of its (channel, block) histogram's first bin (uint16 when every bin index fits);
    the border pixels between rows point at one more histogram, which is dropped."""
    h, w = shape
    rows, cols = grid
    if rows > h or cols > w:
        raise ValueError(f"LBP grid {grid} has more blocks than the {h}x{w} crop has pixels")
    ys = np.linspace(0, h, rows + 1).astype(int)
    xs = np.linspace(0, w, cols + 1).astype(int)
    block = np.full((h, stride), -1)  # -1: a border pixel between rows
    block[:, :w] = (np.searchsorted(ys, np.arange(h), side="right") - 1)[:, None] * cols + (
        np.searchsorted(xs, np.arange(w), side="right") - 1
    )[None, :]
    block = block.ravel()[: (h - 1) * stride + w]
    per_channel = np.arange(n_channels)[:, None] * (rows * cols)
    n_hists = n_channels * rows * cols
    offsets = np.where(block >= 0, per_channel + block, n_hists) * bins
    # the smallest type that holds every bin index: a quarter of the memory to read
    return _frozen(offsets.astype(np.uint16 if (n_hists + 1) * bins <= 2**16 else np.intp))


def _block_histograms(
    run: np.ndarray, shape: tuple[int, int], stride: int, bins: int, grid: tuple[int, int]
) -> np.ndarray:
    """Per-block L1-normalised histograms of the bin indices of a (C, n) flat run of
    (C, h, w) regions (rows `stride` apart), channel by channel."""
    offsets = _run_offsets(run.shape[0], shape, stride, grid, bins)
    n_hists = run.shape[0] * grid[0] * grid[1]
    counts = np.bincount((offsets + run).ravel(), minlength=(n_hists + 1) * bins)
    hists = counts[: n_hists * bins].reshape(-1, bins).astype(np.float64)
    return (hists / np.add.reduce(hists, axis=1, keepdims=True)).ravel()


def lbp_multiscale_histograms(
    channels: np.ndarray,
    scales: tuple[tuple[int, float], ...],
    method: str,
    grid: tuple[int, int] = (1, 1),
) -> np.ndarray:
    """Per-block L1-normalised LBP_{P,R} histograms of each channel of a (C, H, W) uint8
    stack for each (P, R) of `scales`, concatenated scale by scale, channel by channel,
    block by block (row-major)."""
    _check_channels(channels)
    grid = (int(grid[0]), int(grid[1]))
    scales = tuple((int(P), R) for P, R in scales)
    _, h, w = channels.shape
    return np.concatenate(
        [
            _block_histograms(
                run, (h - 2 * math.ceil(R), w - 2 * math.ceil(R)), stride, n_bins(P, method), grid
            )
            for (run, stride), (P, R) in zip(
                _interior_bins(channels, scales, method), scales, strict=True
            )
        ]
    )


def lbp_histograms(
    channels: np.ndarray, P: int, R: float, method: str, grid: tuple[int, int] = (1, 1)
) -> np.ndarray:
    """Per-block L1-normalised LBP_{P,R} histograms of each channel of a (C, H, W) uint8
    stack, concatenated channel by channel, block by block (row-major)."""
    return lbp_multiscale_histograms(channels, ((P, R),), method, grid)


def lbp_histogram(
    channel: np.ndarray, P: int, R: float, method: str, grid: tuple[int, int] = (1, 1)
) -> np.ndarray:
    """Concatenated, per-block L1-normalised LBP_{P,R} histograms of one 2-D uint8 channel."""
    if channel.ndim != 2:
        raise ValueError(f"LBP needs a 2-D channel, got shape {channel.shape}")
    return lbp_histograms(channel[None], P, R, method, grid)
