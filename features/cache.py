"""The feature cache: one `.npy` vector per (extractor, crop), written atomically.

Layout: `<cache root>/features/<extractor key>/<crop hash[:2]>/<crop hash>.npy`, where the
crop hash is the SHA-256 of the crop's shape and bytes and the extractor key hashes the class
name, its `_version` and every parameter except `n_jobs` and `cache`
(`features.base.FeatureExtractor.cache_key`). An entry that cannot be read, or has the wrong
length or non-finite values, counts as absent, so it is recomputed and overwritten.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from features.files import atomic_open


def crop_hash(crop: np.ndarray) -> str:
    """SHA-256 of one crop's shape and pixel bytes."""
    h = hashlib.sha256(repr(crop.shape).encode())
    h.update(np.ascontiguousarray(crop).tobytes())
    return h.hexdigest()


def save_vector(path: Path, vector: np.ndarray) -> None:
    """Store one feature vector atomically."""
    with atomic_open(path) as f:
        np.save(f, vector, allow_pickle=False)


def load_vector(path: Path, n_features: int) -> np.ndarray | None:
    """The cached vector, or None when absent or unusable (corrupt, wrong length, non-finite)."""
    try:
        v = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        return None
    if v.ndim != 1 or v.dtype != np.float64 or not np.all(np.isfinite(v)):
        return None
    return v if v.shape[0] == n_features else None
