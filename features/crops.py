"""`CropSequence`: the face crops of a list of records, read on demand in chunks.

`FaceCropper.transform` returns one instead of an (N, s, s, 3) array, so that no stage holds
every crop of a large dataset at once: CelebA-Spoof's 625k images would be 7.7 GB of 64-px
crops. It behaves like that array where the crop consumers need it (`len`, `shape`, `dtype`,
indexing by int, slice, integer or boolean array, `chunks`), each read returning a real
ndarray from the cropper's memo and disk cache; `np.asarray` (via `__array__`) materialises
everything, so a consumer unaware of it still works. `iter_chunks` walks an ndarray (as views)
or a sequence (as reads) the same way.
"""

from __future__ import annotations

import operator
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

import numpy as np

CHUNK_BYTES = 16 * 2**20
"""Default bytes of crops per chunk (1,365 crops of 64 px, 85 of 256 px): memory stays flat
once a dataset has more crops than a chunk."""


class Cropper(Protocol):
    """What a `CropSequence` needs of its cropper (`features.faces.FaceCropper`)."""

    size: int

    def crop_one(self, record: Any) -> Any: ...  # a CropResult with a `.crop` array


class CropSequence:
    """The crops of `records` by a fitted `cropper`, as a lazy (N, size, size, 3) uint8 array.

    Reads go through `cropper.crop_one` (memo, then disk cache, then decode and crop), so they
    give exactly the crops `FaceCropper` would have stacked; every read returns a new array.
    """

    dtype = np.dtype(np.uint8)
    ndim = 4

    def __init__(self, records: Sequence[Any], cropper: Cropper) -> None:
        self.records = list(records)
        self.cropper = cropper

    @property
    def shape(self) -> tuple[int, int, int, int]:
        s = int(self.cropper.size)
        return (len(self.records), s, s, 3)

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        return self.size

    def __len__(self) -> int:
        return len(self.records)

    def __repr__(self) -> str:
        return f"CropSequence(shape={self.shape}, cropper={self.cropper!r})"

    def _read(self, indices: np.ndarray) -> np.ndarray:
        out = np.empty((indices.size, *self.shape[1:]), np.uint8)
        for j, i in enumerate(indices.ravel()):
            out[j] = self.cropper.crop_one(self.records[i]).crop
        return out.reshape(*indices.shape, *self.shape[1:])

    def _indices(self, key: Any) -> np.ndarray:
        """Row indices (any shape) of a first-axis key; IndexError/TypeError as NumPy gives."""
        n = len(self)
        if isinstance(key, slice):
            return np.arange(n)[key]
        key = np.asarray(key)
        if key.dtype == np.bool_:
            if key.shape != (n,):
                raise IndexError(f"boolean index of shape {key.shape} for {n} crops")
            return np.flatnonzero(key)
        if not np.issubdtype(key.dtype, np.integer):
            raise IndexError(f"crops are indexed by int, slice or int/bool array, got {key!r:.80}")
        if key.size and not (-n <= key.min() and key.max() < n):
            raise IndexError(f"index out of range for {n} crops")
        return np.where(key < 0, key + n, key).astype(np.intp)

    def __getitem__(self, key: Any) -> np.ndarray:
        rest: tuple = ()
        if isinstance(key, tuple):
            if not key or key[0] is Ellipsis or key[0] is None:
                return np.asarray(self)[key]
            key, rest = key[0], key[1:]
        try:
            i = operator.index(key)
        except TypeError:
            out = self._read(self._indices(key))
            return out[(slice(None),) * (out.ndim - 3) + rest] if rest else out
        n = len(self)
        if not -n <= i < n:
            raise IndexError(f"index {i} is out of range for {n} crops")
        crop = self._read(np.array([i % n]))[0]
        return crop[rest] if rest else crop

    def __iter__(self) -> Iterator[np.ndarray]:
        for _, chunk in self.chunks():
            yield from chunk

    def chunks(self, rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
        """(start, crops[start : start + rows]) in order; `rows` defaults to `chunk_rows`."""
        return iter_chunks(self, rows)

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        if copy is False:
            raise ValueError("a CropSequence cannot be viewed as an array without reading it")
        out = self._read(np.arange(len(self)))
        return out if dtype is None else out.astype(dtype, copy=False)


def chunk_rows(X: Any, budget: int | None = None) -> int:
    """Rows of X per chunk: about `budget` bytes (default `CHUNK_BYTES`), at least one."""
    row = int(np.prod(X.shape[1:], dtype=np.int64)) * np.dtype(X.dtype).itemsize
    return max(1, (CHUNK_BYTES if budget is None else budget) // max(1, row))


def iter_chunks(X: Any, rows: int | None = None) -> Iterator[tuple[int, np.ndarray]]:
    """(start, X[start : start + rows]) over the first axis of an ndarray (views) or a
    `CropSequence` (reads, one chunk in memory at a time)."""
    rows = chunk_rows(X) if rows is None else rows
    if rows < 1:
        raise ValueError(f"chunk rows must be at least 1, got {rows}")
    for start in range(0, len(X), rows):
        yield start, X[start : start + rows]
