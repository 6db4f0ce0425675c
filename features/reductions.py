"""Mean and variance of float arrays, exactly as `np.mean` and `np.var` (ddof 0) compute them.

The same ufunc reductions in the same order, without NumPy's Python-level wrappers around
them, which cost more than the arithmetic on a 64-px crop when each extractor runs once per
crop between other work (a cold cache): about half the time of `np.var` there.
"""

from __future__ import annotations

import numpy as np


def _count(a: np.ndarray, axis: int | None) -> int:
    if a.dtype not in (np.float32, np.float64):  # NumPy sums float16 in float32, ints in float64
        raise TypeError(f"expected a float32 or float64 array, got dtype {a.dtype}")
    return a.size if axis is None else a.shape[axis]


def mean(a: np.ndarray, axis: int | None = None, keepdims: bool = False) -> np.ndarray:
    """`np.mean(a, axis, keepdims=keepdims)` of a float array."""
    n = _count(a, axis)
    return np.add.reduce(a, axis=axis, keepdims=keepdims) / n


def var(a: np.ndarray, axis: int | None = None) -> np.ndarray:
    """`np.var(a, axis)` of a float array."""
    n = _count(a, axis)
    d = a - np.add.reduce(a, axis=axis, keepdims=True) / n
    np.multiply(d, d, out=d)
    return np.add.reduce(d, axis=axis) / n
